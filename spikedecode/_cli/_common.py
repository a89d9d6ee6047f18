"""Helpers shared by the CLI sub-commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


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


def config_option(section: str) -> Callable[[F], F]:
    """``--config FILE``: defaults for a command from the ``[section]`` of an experiment config.

    The file (JSON or TOML) is validated against ``experiment_config.schema.json`` by
    :func:`spikedecode.schema.load_config`; its keys are the command's long options with
    ``_`` for ``-`` (``n_splits`` for ``--n-splits``). Values become the command's
    defaults, so an option given on the command line still wins. Lists (``decoder``,
    ``stimuli``) are joined with commas, as the command line takes them.
    """

    def load(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        from spikedecode.errors import ConfigError
        from spikedecode.schema import load_config

        table = load_config(value).get(section, {})
        by_key = {opt.lstrip("-").replace("-", "_"): p.name
                  for p in ctx.command.params if isinstance(p, click.Option)
                  for opt in p.opts if opt.startswith("--")}
        defaults: dict[str, Any] = {}
        for key, val in table.items():
            if key not in by_key:  # the schema and the command disagree: a bug, not bad input
                raise ConfigError(
                    f"{Path(value).name}: [{section}].{key} is in the config schema but "
                    f"`spikedecode {section}` has no option --{key.replace('_', '-')}; "
                    f"remove the key and report this mismatch."
                )
            if isinstance(val, list):
                val = ",".join(str(v) for v in val)
            defaults[by_key[key]] = val
        ctx.default_map = {**(ctx.default_map or {}), **defaults}
        return value

    return click.option(
        "--config", type=click.Path(exists=True, dir_okay=False), default=None,
        is_eager=True, expose_value=False, callback=load,
        help=f"JSON/TOML experiment config; its [{section}] table sets defaults for these "
             "options (keys like n_splits for --n-splits); command-line options win.",
    )


def threads_option() -> Callable[[F], F]:
    """``--threads N``: threads for torch, BLAS and OpenMP during the command (or ``auto``).

    Also read from ``$SPIKEDECODE_NUM_THREADS``. The command's work runs inside
    :func:`spikedecode._threads.thread_limits`, so the count applies to every fit and the
    caller's settings are back afterwards (the CLI used as a library function).
    """

    def apply(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        from spikedecode._threads import configure_cli, thread_limits

        explicit = configure_cli(value)
        # automatic: one BLAS thread (the commands' BLAS calls, the linear decoders' fits
        # and the bootstrap, are small: a second, spinning OpenBLAS thread made them 10x
        # slower beside another process); torch picks per network (spikedecode/_threads.py)
        ctx.with_resource(thread_limits(explicit, blas_work=0.0))
        return value

    return click.option(
        "--threads", default=None, metavar="N|auto", expose_value=False, callback=apply,
        envvar="SPIKEDECODE_NUM_THREADS",
        help="Threads for torch, BLAS and OpenMP [default: auto: the cores this process may "
             "use (affinity, cgroup quota), one for a small network]; also "
             "$SPIKEDECODE_NUM_THREADS.",
    )


# (option, smallest, largest, advice): the commands' integer options, checked in one place
_LIMITS: dict[str, tuple[str, int, int | None, str]] = {
    "seed": ("--seed", 0, 2**32 - 1, "seeds are integers in [0, 2**32 - 1]"),
    "n_boot": ("--n-boot", 1, 1_000_000,
               "1,000-10,000 bootstrap replicates are plenty for a 95 % CI"),
    "permutations": ("--permutations", 0, 100_000, "0 turns the permutation chance off"),
    "n_splits": ("--n-splits", 2, None, "cross-validation needs at least 2 folds"),
    "n_bins": ("--window", 1, 1_000_000, "bins per window"),
    "step": ("--step", 1, 1_000_000, "the stride between windows, in bins"),
    "repeats": ("--repeats", 1, 1_000, "1 runs the cross-validation once"),
    "max_epochs": ("--max-epochs", 1, None, "train for at least one epoch"),
    "n_jobs": ("--n-jobs", 1, None, "at least one worker"),
    "n_components": ("--n-components", 1, None, "at least one aligned dimension"),
    "n_steps": ("--steps", 1, None, "BIM/PGD take at least one step"),
    "n_eval": ("--n-eval", 1, None, "attack at least one test image"),
    "limit": ("--limit", 1, None, "leave --limit out to use every image"),
}


def check_cli_numbers(**values: Any) -> None:
    """Raise ConfigError naming the option when an integer option is out of range.

    Keys are the commands' parameter names (``n_boot``); ``None`` values are skipped.

    Examples
    --------
    >>> check_cli_numbers(seed=0, n_boot=1000)
    >>> check_cli_numbers(n_boot=-1)
    Traceback (most recent call last):
    ...
    spikedecode.errors.ConfigError: --n-boot == -1, must be an integer in [1, 1000000] (1,000-10,000 bootstrap replicates are plenty for a 95 % CI).
    """
    from spikedecode.errors import ConfigError

    for key, value in values.items():
        if value is None:
            continue
        option, lo, hi, advice = _LIMITS[key]
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo \
            and (hi is None or value <= hi)
        if not ok:
            bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
            # a config's 1e300 arrives as a 301-digit int: show it as a number a person reads
            shown = f"{float(value):.4g}" if isinstance(value, (int, float)) and \
                not isinstance(value, bool) and abs(value) >= 1e15 else repr(value)
            raise ConfigError(f"{option} == {shown}, must be an integer {bound} ({advice}).")


def check_out_dir(out: Path, option: str = "--out") -> Path:
    """Create the output folder and check that a file can be written there.

    Raises ConfigError naming ``option`` when ``out`` is an existing file, cannot be
    created (under ``/proc``, a read-only disk) or is not writable.
    """
    import tempfile

    from spikedecode.errors import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {str(out)!r} is an existing file; pass a folder path "
                          "(the results are several files), or remove the file.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfigError(f"{option} {str(out)!r}: cannot write there ({reason}); pass a "
                          "folder you can write to.") from err
    return out
