"""``spikedecode info FILE``: what a recording file holds."""

from __future__ import annotations

from typing import Any

import click

from spikedecode._cli._common import echo_json, echo_table

__all__ = ["command", "info_dict", "nwb_read_kwargs"]


def nwb_read_kwargs(file: str, intervals: str | None, label_column: str | None
                    ) -> dict[str, Any]:
    """``read()`` keywords for ``--intervals``/``--label-column`` (NWB files only).

    ``--intervals`` is ``auto``, ``all`` or comma-separated table names.
    """
    from spikedecode.io import sniff

    kwargs: dict[str, Any] = {}
    if intervals is not None or label_column is not None:
        if sniff(file) != "nwb":
            raise click.UsageError("--intervals and --label-column apply to NWB files only.")
        if intervals is not None:
            kwargs["intervals"] = intervals if intervals in ("auto", "all") else intervals.split(",")
        if label_column is not None:
            kwargs["label_column"] = label_column
    return kwargs


def info_dict(rec: Any) -> dict[str, Any]:
    """Summary of a Recording plus a per-unit table (unit, spikes, rate in Hz).

    For NWB files it also lists the file's interval tables (``interval_tables``: name,
    rows, columns, label column, role) and counts the excluded intervals, the rows of the
    tables not read as epochs.

    Examples
    --------
    >>> import spikedecode
    >>> rec = spikedecode.from_spiketrains({"a": [0.1, 0.2], "b": [0.5]}, t_stop=2.0)
    >>> info_dict(rec)["units"][0]
    {'unit': 'a', 'n_spikes': 2, 'rate_hz': 1.0}
    """
    summary = rec.spikedecode.summary()
    counts = rec.spikedecode.spike_counts().values
    rates = rec.spikedecode.firing_rates().values
    summary["units"] = [
        {"unit": str(u), "n_spikes": int(c), "rate_hz": float(r)}
        for u, c, r in zip(rec["unit"].values, counts, rates)
    ]
    from spikedecode.io.nwb import interval_tables

    tables = interval_tables(rec)
    if tables:
        summary["interval_tables"] = tables
        summary["n_excluded_intervals"] = int(rec.sizes.get("excluded", 0))
    return summary


def _echo_columns(tables: list[dict[str, Any]]) -> None:
    """Each table's time columns (for decode --align) and each column's description."""
    for t in tables:
        if not t.get("descriptions"):
            continue
        click.echo("")
        times = t.get("time_columns") or []
        click.echo(f"{t['table']}: time columns (decode --align): "
                   f"{', '.join(times) or '-'}")
        echo_table([{"column": c, "time": "yes" if c in times else "",
                     "description": " ".join(str(d).split())[:100]}
                    for c, d in t["descriptions"].items()], ["column", "time", "description"])


@click.command("info")
@click.argument("file", type=click.Path(exists=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--intervals",
    default=None,
    help="NWB: interval tables to read as epochs ('auto', 'all', or comma-separated names).",
)
@click.option("--label-column", default=None, help="NWB: column that labels the epochs.")
@click.option(
    "--isolate",
    is_flag=True,
    help="Read in a child process, so that a damaged file cannot crash this one.",
)
def command(
    file: str, as_json: bool, intervals: str | None, label_column: str | None, isolate: bool
) -> None:
    """Summarise a recording FILE: units, duration, spikes, epochs per label, unit rates."""
    from spikedecode.io import read, sniff

    rec = read(file, isolate=isolate, **nwb_read_kwargs(file, intervals, label_column))
    info = info_dict(rec)
    info["file"] = str(file)
    info["format"] = sniff(file)
    if info["format"] == "nwb":  # continuous targets for `decode --target`
        from spikedecode.io.nwb_behavior import behavior_names

        info["behavior_series"] = behavior_names(file)
    if as_json:
        echo_json(info)
        return
    click.echo(f"file        {file}")
    click.echo(f"format      {info['format']}")
    for key in ("session", "subject", "day", "source"):
        click.echo(f"{key:<11} {info[key]}")
    click.echo(f"interval    [{info['t_start']:.3f}, {info['t_stop']:.3f}) s")
    click.echo(f"duration    {info['duration_s']:.3f} s")
    click.echo(f"units       {info['n_units']}")
    click.echo(f"spikes      {info['n_spikes']}")
    r = info["rate_hz"]
    click.echo(f"rates (Hz)  min {r['min']:.3f}  median {r['median']:.3f}  max {r['max']:.3f}")
    click.echo(f"epochs      {info['n_epochs']}")
    if info["epochs_per_label"]:
        click.echo("")
        echo_table([{"label": k, "epochs": v} for k, v in info["epochs_per_label"].items()])
    if info.get("interval_tables"):
        click.echo("")
        click.echo("interval tables (choose with decode --intervals TABLE --label-column COL; "
                   "'excluded': windows in their rows are neither stimulus nor latent)")
        echo_table([{**t, "columns": ",".join(t["columns"]),
                     "label_column": t["label_column"] or "-"}
                    for t in info["interval_tables"]],
                   ["table", "rows", "role", "label_column", "columns"])
        _echo_columns(info["interval_tables"])
    if info.get("behavior_series"):
        click.echo("")
        click.echo("behaviour series (decode with decode --target NAME): "
                   + ", ".join(info["behavior_series"]))
    click.echo("")
    echo_table(info["units"], ["unit", "n_spikes", "rate_hz"])
