"""Helpers shared by the CLI sub-commands."""

from __future__ import annotations

import json
from typing import Any

import click


def echo_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout."""
    from spikedecode.serialization import _default

    click.echo(json.dumps(obj, indent=2, default=_default))


def echo_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """Print a list of dicts as an aligned text table."""
    if not rows:
        click.echo("(empty)")
        return
    columns = columns or list(rows[0])

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def parse_duration(text: str) -> float:
    """Parse ``'5ms'``, ``'0.25s'``, ``'250 ms'`` or a bare number of seconds."""
    from spikedecode.errors import ConfigError

    t = text.strip().lower().replace(" ", "")
    try:
        if t.endswith("ms"):
            return float(t[:-2]) / 1000.0
        if t.endswith("s"):
            return float(t[:-1])
        return float(t)
    except ValueError as err:
        raise ConfigError(f"could not read a duration from {text!r}; use e.g. '5ms' or '0.25s'.") from err
