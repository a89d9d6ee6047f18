"""``spikedecode decode FILE --target SERIES``: decode a continuous behaviour series.

The target is a behaviour series of the NWB file (``spikedecode info FILE`` lists them)
or, with ``--behavior TABLE``, columns of a csv/tsv table with a ``time`` column (seconds).
Windows of ``--window`` bins end at the target bin (causal); scores come from blocked
cross-validation with a gap of one window, with block-bootstrap CIs
(:func:`spikedecode.evaluation.regression.regression_scores`). Writes ``report.json``,
``<decoder>.json`` and a predicted-vs-true trace ``trace_<decoder>.png``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np

from spikedecode._cli._common import echo_json, echo_table

__all__ = ["REGRESSORS", "load_target", "run_target"]

#: decoders of ``--decoder`` with ``--target``
REGRESSORS = ("wiener", "wiener_cascade", "kalman", "poisson_bayes")


def load_target(file: str, target: str, behavior: str | None) -> Any:
    """The Behavior series ``target`` of an NWB ``file``, or columns of a ``behavior`` table.

    Parameters
    ----------
    file : str
        The recording.
    target : str
        A behaviour series name (NWB), or comma-separated columns of the table.
    behavior : str or None
        A csv/tsv table with a ``time`` column (seconds) and the target columns.

    Returns
    -------
    xarray.DataArray
        A Behavior series.
    """
    from spikedecode.io import sniff
    from spikedecode.preprocess.behavior import make_behavior, select_series

    if behavior is not None:
        import pandas as pd

        sep = "\t" if behavior.endswith(".tsv") else ","
        table = pd.read_csv(behavior, sep=sep)
        if "time" not in table.columns:
            raise click.UsageError(f"--behavior {behavior}: no 'time' column (seconds); "
                                   f"the columns are {list(table.columns)}.")
        cols = [c.strip() for c in target.split(",")]
        select = {str(c): c for c in table.columns if c != "time"}
        for c in cols:
            select_series(select, c)  # an unknown column names the ones there are
        return make_behavior(table[cols].to_numpy(dtype=np.float64), table["time"].to_numpy(),
                             channels=cols, name=cols[0] if len(cols) == 1 else target,
                             source=str(behavior))
    if sniff(file) != "nwb":
        raise click.UsageError("--target names a behaviour series of an NWB file; for other "
                               "formats pass --behavior TABLE.csv (a 'time' column and the "
                               "target columns).")
    from spikedecode.io.nwb_behavior import read_behavior

    out = read_behavior(file, target)
    assert not isinstance(out, dict)  # a name was given
    return out


def decode_target(file: str, *, target: str | None, behavior_table: str | None,
                  decoders: str, bin_size: str, n_bins: Any, n_splits: int, n_boot: int,
                  seed: int, outdir: Path, as_json: bool) -> None:
    """``decode FILE --target SERIES``: check the options, read, decode, report."""
    from spikedecode._cli._common import check_cli_numbers, parse_duration
    from spikedecode.io import read

    if target is None:
        raise click.UsageError("--behavior needs --target (the column(s) to decode).")
    if not isinstance(n_bins, int):
        raise click.UsageError(f"--window == {n_bins!r}: with --target, the spike history "
                               "in bins (an integer).")
    check_cli_numbers(n_bins=n_bins)
    kinds = ["wiener"] if decoders == "logistic" else [
        k.strip() for k in decoders.split(",") if k.strip()]
    bad = [k for k in kinds if k not in REGRESSORS]
    if bad or not kinds:
        raise click.UsageError(f"--decoder {','.join(bad) or decoders!r} cannot decode "
                               f"--target; use {', '.join(REGRESSORS)}.")
    rec = read(file)
    series = load_target(file, target, behavior_table)
    run_target(rec, series, kinds=kinds, bin_size=parse_duration(bin_size), n_bins=n_bins,
               n_splits=n_splits, n_boot=n_boot, seed=seed, outdir=outdir, as_json=as_json,
               file=file)


def run_target(rec: Any, series: Any, *, kinds: list[str], bin_size: float, n_bins: int,
               n_splits: int, n_boot: int, seed: int, outdir: Path, as_json: bool,
               file: str) -> dict[str, Any]:
    """Decode ``series`` from ``rec`` with each regressor; write and print the report."""
    from spikedecode.decoders import make_decoder
    from spikedecode.errors import DataDroppedWarning
    from spikedecode.evaluation.regression import regression_scores
    from spikedecode.preprocess import bin_spikes, target_windows, to_sequences
    from spikedecode.serialization import save_json

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataDroppedWarning)
        w = target_windows(bin_spikes(rec, bin_size), series, bins_before=n_bins - 1)
    X, Y_, _ = to_sequences(w)
    Y = np.asarray(Y_, dtype=np.float64)  # target_windows always attaches the target
    channels = [str(c) for c in w.attrs["target_channels"]]
    meta = {"file": str(file), "target": str(w.attrs["target"]), "channels": channels,
            "units_of_target": str(w.attrs.get("target_units", "")), "bin_size": bin_size,
            "n_bins": n_bins, "n_units": int(w.sizes["unit"]), "n_samples": int(len(Y)),
            "n_dropped": int(w.attrs["n_dropped"]),
            "dropped": [str(c.message) for c in caught]}
    results: dict[str, Any] = {}
    for kind in kinds:
        Xk = X.sum(axis=1, keepdims=True) if kind == "poisson_bayes" else X
        r = regression_scores(make_decoder(kind), Xk, Y, gap=n_bins, n_splits=n_splits,
                              n_boot=n_boot, channels=channels, random_state=seed)
        results[kind] = {k: v for k, v in r.items() if k != "y_pred"}
        save_json({**meta, "decoder": kind, **results[kind]}, outdir / f"{kind}.json")
        _trace(outdir, kind, Y, r["y_pred"], w, channels, str(meta["units_of_target"]))
        if not as_json:
            lo, hi = r["r2_vw_ci"]
            click.echo(f"{kind}: R2 {r['r2_vw']:.3f} [{lo:.3f}, {hi:.3f}] -> "
                       f"{outdir / (kind + '.json')}")
    report = {**meta, "results": results, "out": str(outdir)}
    save_json(report, outdir / "report.json")
    if as_json:
        echo_json(report)
        return report
    click.echo(f"file:    {file}")
    click.echo(f"target:  {meta['target']} ({', '.join(channels)}); {meta['n_samples']} bins "
               f"of {bin_size * 1000:g} ms, windows of {n_bins} bins ending at the target bin")
    if meta["n_dropped"]:
        click.echo(f"dropped: {meta['n_dropped']} samples with no target value (gaps)")
    rows = []
    for kind, r in results.items():
        row = {"decoder": kind, "R2_vw": r["r2_vw"],
               "R2_vw_ci": f"[{r['r2_vw_ci'][0]:.3f}, {r['r2_vw_ci'][1]:.3f}]"}
        for c in channels:
            row[f"R2_{c}"] = r["r2"][c]
        row["median_err"] = r["median_error"]
        rows.append(row)
    echo_table(rows)
    click.echo(f"wrote:   {outdir} (report.json, <decoder>.json, trace_<decoder>.png)")
    return report


def _trace(outdir: Path, kind: str, Y: Any, pred: Any, w: Any, channels: list[str],
           units: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)

        from spikedecode.plotting import save_figure
        from spikedecode.plotting.continuous import plot_trace
    except ImportError:  # plotting is optional
        return
    fig = plot_trace(Y, pred, time=w["target_time"].values, channels=channels, units=units,
                     title=f"{kind}: out-of-fold prediction")
    save_figure(fig, outdir / f"trace_{kind}.png", dpi=110)
