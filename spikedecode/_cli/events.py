"""``spikedecode decode FILE --intervals TABLE --align COLUMN``: one sample per trial.

The event-aligned path of ``decode``: windows cut relative to a time column of an NWB
interval table (:func:`spikedecode.preprocess.event_windows`), labelled by a column of
that table or contrasted with a pre-event baseline, decoded with grouped CV repeated
over re-seeded folds and tested against label permutations (both by default below
:data:`spikedecode.evaluation.metrics.SMALL_N_TRIALS` trials). ``--time-resolved`` adds
the score at every bin after the event with its cluster test, and the temporal
generalization matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from spikedecode._cli._common import echo_table, parse_duration

__all__ = ["parse_span", "parse_label_columns", "decode_events", "event_decoder"]


def parse_span(text: str, option: str) -> tuple[float, float]:
    """``'0.2s:1.2s'`` or ``'-1:0'`` -> ``(0.2, 1.2)`` seconds relative to the event.

    Examples
    --------
    >>> parse_span("0.2s:1.2s", "--window"), parse_span("-500ms:0", "--vs-baseline")
    ((0.2, 1.2), (-0.5, 0.0))
    """
    from spikedecode.errors import ConfigError

    parts = str(text).split(":")
    if len(parts) != 2:
        raise ConfigError(
            f"{option} == {text!r}; give START:STOP relative to the event, e.g. 0.2s:1.2s "
            "or -1s:0s."
        )
    return parse_duration(parts[0]), parse_duration(parts[1])


def parse_label_columns(text: str | None, table: str | None = None) -> Any:
    """``--label-column``: one column, or ``TABLE:COL,TABLE2:COL2`` (a column per table).

    With ``table``, the column for that table (None when it has none).

    Examples
    --------
    >>> parse_label_columns("stimCategory")
    'stimCategory'
    >>> parse_label_columns("encoding_table:stimCategory,recognition_table:old_new")
    {'encoding_table': 'stimCategory', 'recognition_table': 'old_new'}
    >>> parse_label_columns("encoding_table:stimCategory,recognition_table:old_new",
    ...                     "recognition_table")
    'old_new'
    """
    if text is None:
        return None
    if ":" not in text:
        return text
    from spikedecode.errors import ConfigError

    out = {}
    for part in text.split(","):
        name, sep, col = part.partition(":")
        if not sep or not name.strip() or not col.strip():
            raise ConfigError(
                f"--label-column == {text!r}; give COLUMN or TABLE:COLUMN,TABLE2:COLUMN2.")
        out[name.strip()] = col.strip()
    return out if table is None else out.get(table)


def _result_row(kind: str, r: dict[str, Any]) -> dict[str, Any]:
    row = {"decoder": kind, "balanced_acc": r["balanced_accuracy"],
           "bal_ci": f"[{r['balanced_accuracy_ci'][0]:.3f}, "
                     f"{r['balanced_accuracy_ci'][1]:.3f}]",
           "bal_chance": r["balanced_chance"], "accuracy": r["accuracy"],
           "n_trials": r["n_trials"], "n_samples": r["n_samples"], "repeats": r["n_repeats"]}
    if "balanced_chance_perm" in r:
        lo, hi = r["balanced_chance_perm_ci"]
        row["perm_chance"] = f"{r['balanced_chance_perm']:.3f} [{lo:.3f}, {hi:.3f}]"
        row["p_value"] = r["balanced_p_value"]
    return row


def _temporal_summary(res: Any) -> dict[str, Any]:
    out = {"time": [float(v) for v in res["time"].values],
           "score": [float(v) for v in res["score"].values],
           "ci_low": [float(v) for v in res["ci_low"].values],
           "ci_high": [float(v) for v in res["ci_high"].values],
           "n_repeats": res.attrs["n_repeats"], "n_permutations": res.attrs["n_permutations"]}
    if "chance" in res:
        out["chance"] = [float(v) for v in res["chance"].values]
        out["clusters"] = res.attrs["clusters"]
    return out


def event_decoder(kind: str, *, random_state: int = 0, max_epochs: int = 30,
                  preset: str = "fast", fallback: Callable[..., Any] | None = None) -> Any:
    """The decoder of the event-aligned path.

    ``"logistic"`` is a standardised L2 logistic regression with ``C = 1`` and balanced
    class weights (the independent pynwb + scikit-learn analysis's settings): with one
    sample per trial a few hundred samples leave little to tune, and its cost
    (milliseconds per fit) lets the default 10 CV repeats and 100 label permutations
    run in seconds. The other kinds are built by ``fallback`` (``decode``'s
    ``cli_decoder``, passed in by the command).

    Examples
    --------
    >>> [name for name, _ in event_decoder("logistic").steps]
    ['standardscaler', 'logisticregression']
    """
    if kind != "logistic":
        if fallback is None:
            from spikedecode.errors import ConfigError

            raise ConfigError(f"--decoder == {kind!r}: no builder for it was given.")
        return fallback(kind, random_state=random_state, max_epochs=max_epochs,
                        preset=preset)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(),
                         LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000,
                                            random_state=random_state))


def _jsonable(results: dict[str, Any]) -> dict[str, Any]:
    """Results without their arrays (the confusion matrix as labels and counts)."""
    out = {}
    for kind, r in results.items():
        d = {k: v for k, v in r.items() if k not in ("y_pred", "confusion", "null")}
        cm = r["confusion"]
        d["confusion"] = {"labels": [str(v) for v in cm["true"].values],
                          "counts": cm.values.tolist()}
        out[kind] = d
    return out


def _save(ds: Any, path: Path) -> None:
    """netCDF with the attrs netCDF cannot hold (lists of dicts, bools) as JSON text."""
    import json

    ds = ds.copy()
    ds.attrs = {k: (v if isinstance(v, (int, float, str)) and not isinstance(v, bool)
                    else json.dumps(v)) for k, v in ds.attrs.items()}
    if "significant" in ds:
        ds["significant"] = ds["significant"].astype("int8")
    ds.to_netcdf(path)


def _time_resolved(rec: Any, events: Any, *, align: str, span: tuple[float, float],
                   label: str | None, base: tuple[float, float] | None, keep: Any,
                   bin_size: str | None, n_splits: int, repeats: Any, permutations: Any,
                   n_boot: int, seed: int, outdir: Path, title: str, table: str
                   ) -> dict[str, Any]:
    """``--time-resolved``: the curve with its cluster test, the matrix, their figures."""
    import numpy as np

    from spikedecode.evaluation import temporal_generalization, time_resolved_scores
    from spikedecode.preprocess import event_windows, to_sequences

    step = parse_duration(bin_size) if bin_size else min(0.1, (span[1] - span[0]) / 5)
    wt = event_windows(rec, events, align=align, window=span, label=label,
                       baseline=base, bin_size=step, labels=keep)
    Xt, yt, gt = to_sequences(wt)
    dec = event_decoder("logistic", random_state=seed)
    tr = time_resolved_scores(dec, np.log1p(Xt), yt, gt, times=wt["t_lag"].values,
                              n_splits=n_splits, n_repeats=repeats,
                              n_permutations=permutations, n_boot=n_boot,
                              random_state=seed)
    tg = temporal_generalization(dec, np.log1p(Xt), yt, gt, times=wt["t_lag"].values,
                                 n_splits=n_splits, n_repeats=1, n_permutations=0,
                                 n_boot=n_boot, random_state=seed)
    _save(tr, outdir / "time_resolved.nc")
    _save(tg, outdir / "temporal_generalization.nc")
    out: dict[str, Any] = {"time_resolved": {**_temporal_summary(tr), "bin_size": step}}
    out["temporal_generalization"] = {
        "time": [float(v) for v in tg["train_time"].values],
        "score": tg["score"].values.tolist()}
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)

        from spikedecode.plotting import save_figure
        from spikedecode.plotting.temporal import (
            plot_temporal_generalization,
            plot_time_resolved,
        )
    except ImportError:  # plotting is optional
        pass
    else:
        for name, fig in (("time_resolved", plot_time_resolved(tr, title=title)),
                          ("temporal_generalization",
                           plot_temporal_generalization(tg, title=table))):
            save_figure(fig, outdir / f"{name}.png", dpi=120)
    return out


def decode_events(
    *, file: str, table: str, align: str, window: str, label_column: str | None,
    baseline: str | None, bin_size: str | None, kinds: list[str], n_splits: int,
    n_boot: int, permutations: Any, repeats: Any, seed: int, outdir: Path,
    time_resolved: bool, as_json: bool, max_epochs: int, preset: str,
    stimuli: str | None = None, sampler: Any = None,
    fallback: Callable[..., Any] | None = None,
    to_json: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the event-aligned decode and write its results; returns the report.

    ``fallback`` builds the non-logistic decoders and ``to_json`` turns results into
    JSON (``decode``'s ``cli_decoder`` and ``jsonable``), passed in so that this module
    does not import the command's.

    Examples
    --------
    >>> callable(decode_events)
    True
    """
    import numpy as np

    jsonable = to_json if to_json is not None else _jsonable
    from spikedecode.errors import ConfigError
    from spikedecode.evaluation import within_day_scores
    from spikedecode.io import read, read_interval_table, sniff
    from spikedecode.preprocess import event_windows, to_sequences
    from spikedecode.serialization import save_json

    if sniff(file) != "nwb":
        raise click.UsageError("--align reads an NWB interval table; FILE is not NWB.")
    if "," in table or table in ("auto", "all"):
        raise ConfigError(f"--intervals == {table!r}; --align needs one interval table.")
    span = parse_span(window, "--window")
    label = parse_label_columns(label_column, table)
    if isinstance(label, dict):  # pragma: no cover - parse_label_columns returns str/None
        label = None
    if label_column is not None and label is None:
        raise ConfigError(f"--label-column == {label_column!r} names no column for table "
                          f"{table!r}; add {table}:COLUMN.")
    base = parse_span(baseline, "--vs-baseline") if baseline else None
    if base is None and label is None:
        raise click.UsageError("--align needs --label-column COL or --vs-baseline START:STOP.")
    if base is not None and label is not None:
        raise click.UsageError("give --label-column or --vs-baseline, not both.")
    rec = read(file, intervals=None)
    events = read_interval_table(file, table)
    keep = [v.strip() for v in stimuli.split(",")] if stimuli else None
    if keep is not None and label is None:
        raise click.UsageError("--stimuli filters trials by --label-column values; give "
                               "--label-column too.")
    w = event_windows(rec, events, align=align, window=span, label=label, baseline=base,
                      labels=keep)
    what = (f"label {label}; one sample per trial" if base is None
            else f"vs baseline {base[0]:g} to {base[1]:g} s; one event and one baseline "
                 "sample per trial")
    task = f"{table}: window {span[0]:g} to {span[1]:g} s after {align}, {what}"
    labels, counts = np.unique(w["label"].values.astype(str), return_counts=True)
    meta: dict[str, Any] = {
        "file": str(file), "task": task, "table": table, "align": align,
        "window": list(span), "baseline": list(base) if base else None,
        "label_column": label, "classes": [(str(a), int(b)) for a, b in zip(labels, counts)],
        "n_units": int(w.sizes["unit"]), "n_dropped_missing": w.attrs["n_dropped_missing"],
        "transform": "log1p"}
    X3, y_opt, g = to_sequences(w)
    y = np.asarray(y_opt)
    X = np.log1p(X3.reshape(len(X3), -1))  # counts -> log1p, then each decoder standardises
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        est = event_decoder(kind, random_state=seed, max_epochs=max_epochs, preset=preset,
                            fallback=fallback)
        Xk = np.log1p(X3) if kind in ("mlp", "lstm") else X
        r = within_day_scores(est, Xk, y, g, n_splits=n_splits, n_boot=n_boot,
                              n_permutations=permutations if kind in ("logistic", "svm")
                              else 0, n_repeats=repeats, sampler=sampler,
                              random_state=seed)
        results[kind] = r
        save_json({**meta, "decoder": kind, **jsonable({kind: r})[kind]},
                  outdir / f"{kind}.json")
    report: dict[str, Any] = {**meta, "results": jsonable(results), "out": str(outdir)}
    if time_resolved:
        report.update(_time_resolved(rec, events, align=align, span=span, label=label,
                                     base=base, keep=keep, bin_size=bin_size,
                                     n_splits=n_splits, repeats=repeats,
                                     permutations=permutations, n_boot=n_boot, seed=seed,
                                     outdir=outdir, title=task[:60], table=table))
    save_json(report, outdir / "report.json")
    if not as_json:
        classes = ", ".join(f"{c} ({n})" for c, n in meta["classes"])
        click.echo(f"file:    {file}")
        click.echo(f"task:    {task}")
        click.echo(f"classes: {classes}")
        click.echo(f"units:   {meta['n_units']}")
        echo_table([_result_row(k, r) for k, r in results.items()])
        if time_resolved:
            t = report["time_resolved"]
            sig = [c for c in t.get("clusters", []) if c["p_value"] <= 0.05]
            click.echo("time-resolved (logistic, bins of "
                       f"{t['bin_size'] * 1000:g} ms): peak {max(t['score']):.3f} at "
                       f"{t['time'][int(np.argmax(t['score']))]:g} s; significant clusters: "
                       + (", ".join(f"{c['start']:g}-{c['stop']:g} s (p={c['p_value']:.3f})"
                                    for c in sig) or "none"))
        click.echo(f"wrote:   {outdir}")
    return report
