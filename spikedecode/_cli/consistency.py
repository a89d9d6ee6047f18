"""``spikedecode consistency FILES|DIR``: cross-day decoding matrix and consistency score.

Unlike the library functions (in-process unless asked), the command runs its fits on a
local Dask cluster of ``--n-jobs`` workers by default (``--scheduler sync`` for none).
Warnings print as one line each, ``warning: <Category>: <message>``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from spikedecode._cli._common import (
    config_option,
    echo_json,
    echo_table,
    parse_duration,
    threads_option,
)

__all__ = ["command", "resolve_aligner", "matrix_rows", "matrix_figure"]

ALIGN_CHOICES = ("none", "pca", "cca", "procrustes", "fa", "adversarial")


def resolve_aligner(name: str, **kw: Any) -> Any:
    """``"none"`` -> None; else ``spikedecode.align.get_aligner(name, **kw)`` (lazy)."""
    if name in (None, "none"):
        return None
    try:
        from spikedecode.align import get_aligner
    except ImportError as err:
        raise click.UsageError(
            f"--align {name} needs spikedecode.align.get_aligner, which is not available "
            f"in this installation ({err}); use --align none."
        ) from err
    return get_aligner(name, **kw)


def _parse_scheduler(text: str | None) -> Any:
    """The command's default is a local cluster (the library's is in-process)."""
    if text in (None, "", "local"):
        return "local"
    return text


def _show_warning(message: Any, category: type, filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for the command: one line, no file name or source."""
    text = " ".join(str(message).split())
    click.echo(f"warning: {category.__name__}: {text}", err=True)


def matrix_rows(m: Any) -> list[dict[str, Any]]:
    """Table rows of a cross-day matrix; the header names the metric, train and test days.

    Examples
    --------
    >>> import xarray as xr
    >>> m = xr.DataArray([[0.9, 0.6], [0.5, 0.8]], dims=("train_day", "test_day"),
    ...                  coords={"train_day": [1, 2], "test_day": [1, 2]},
    ...                  attrs={"metric": "accuracy"})
    >>> matrix_rows(m)[1]
    {'accuracy: train day': '2', 'test day 1': 0.5, 'test day 2': 0.8}
    """
    corner = f"{m.attrs.get('metric', 'score')}: train day"
    return [{corner: str(d), **{f"test day {t}": float(v) for t, v in
                                zip(m["test_day"].values, m.sel(train_day=d).values)}}
            for d in m["train_day"].values]


def matrix_figure(m: Any, *, decoder: str, align: str) -> Any:
    """The heatmap, with a short title and a figure wide enough for it."""
    from spikedecode._optional import pyplot
    from spikedecode.plotting.decoding import plot_cross_day

    n_test, n_train = m.sizes["test_day"], m.sizes["train_day"]
    fig, ax = pyplot().subplots(figsize=(max(3.6, 1.5 + 0.45 * n_test), 1.4 + 0.45 * n_train))
    plot_cross_day(m, ax=ax, title=f"{decoder}, align: {align}\n"
                                   f"{m.attrs.get('metric', '')} (train day x test day)")
    return fig


@click.command("consistency")
@threads_option()
@config_option("consistency")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--decoder", default="logistic", show_default=True,
              type=click.Choice(["logistic", "svm", "mlp", "lstm"]))
@click.option("--align", "align", default="none", show_default=True,
              type=click.Choice(list(ALIGN_CHOICES)),
              help="Aligner mapping each day into a common space (none: shared units only).")
@click.option("--n-components", default=8, show_default=True, help="Aligned dimensions.")
@click.option("--bin", "bin_size", default="5ms", show_default=True)
@click.option("--window", "n_bins", default=5, show_default=True)
@click.option("--step", default=5, show_default=True, help="Window stride in bins.")
@click.option("--labels", "rule", type=click.Choice(["multiclass", "binary"]),
              default="multiclass", show_default=True)
@click.option("--stimuli", default=None, help="Comma-separated epoch labels to decode.")
@click.option("--scheduler", default=None,
              help="'local' (default: a local Dask cluster of --n-jobs workers), 'sync' "
                   "(in-process) or 'tcp://host:port'.")
@click.option("--n-jobs", default=2, show_default=True, help="Workers of the local cluster.")
@click.option("--metric", type=click.Choice(["balanced_accuracy", "accuracy"]),
              default="balanced_accuracy", show_default=True,
              help="Score of each cell. Plain accuracy rewards always guessing the largest "
                   "class (latent windows): the chance line printed says how much.")
@click.option("--lodo", is_flag=True, help="Also run leave-one-day-out.")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default=None, type=click.Path(), help="Folder for the heatmap and JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(paths: tuple[str, ...], decoder: str, align: str, n_components: int, bin_size: str,
            n_bins: int, step: int, rule: str, stimuli: str | None, scheduler: str | None,
            n_jobs: int, lodo: bool, seed: int, out: str | None, as_json: bool,
            metric: str = "balanced_accuracy") -> None:
    """Cross-day matrix (train day x test day) over recordings in PATHS (files or a folder)."""
    from spikedecode._cli._common import check_cli_numbers, check_out_dir

    check_cli_numbers(seed=seed, n_bins=n_bins, step=step, n_jobs=n_jobs,
                      n_components=n_components)
    if out:
        check_out_dir(Path(out))
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        _run(paths, decoder, align, n_components, bin_size, n_bins, step, rule, stimuli,
             scheduler, n_jobs, lodo, seed, out, as_json, metric)


def _chance(days: dict[Any, Any], metric: str, np: Any) -> dict[str, Any]:
    """Each test day's chance level of ``metric``: 1 / n_classes for balanced accuracy,
    the largest class's share (always guessing it) for plain accuracy."""
    per_day = {}
    for d, w in days.items():
        _, counts = np.unique(np.asarray(w["label"].values).astype(str), return_counts=True)
        per_day[str(d)] = float(1.0 / len(counts)) if metric == "balanced_accuracy" \
            else float(counts.max() / counts.sum())
    rule = "1 / number of classes" if metric == "balanced_accuracy" \
        else "always guessing the largest class"
    return {"per_day": per_day, "rule": rule}


def _run(paths: tuple[str, ...], decoder: str, align: str, n_components: int, bin_size: str,
         n_bins: int, step: int, rule: str, stimuli: str | None, scheduler: str | None,
         n_jobs: int, lodo: bool, seed: int, out: str | None, as_json: bool,
         metric: str = "balanced_accuracy") -> None:
    import numpy as np

    from spikedecode._cli.decode import cli_decoder
    from spikedecode.evaluation import consistency_score, cross_day_matrix, leave_one_day_out
    from spikedecode.io import read_many
    from spikedecode.preprocess import make_windows

    recs = read_many(paths[0] if len(paths) == 1 else list(paths))
    if len(recs) < 2:
        raise click.UsageError(f"need recordings of >= 2 days; found {len(recs)}.")
    kw: dict[str, Any] = {}
    if stimuli:
        kw["stimulus_labels"] = [s.strip() for s in stimuli.split(",")]
    days = {d: make_windows(r, bin_size=parse_duration(bin_size), n_bins=n_bins, step=step,
                            rule=rule, **kw) for d, r in recs.items()}
    al = resolve_aligner(align, n_components=n_components, random_state=seed) \
        if align != "none" else None
    est = cli_decoder(decoder, random_state=seed)
    sched = _parse_scheduler(scheduler)
    m = cross_day_matrix(days, est, aligner=al, scheduler=sched, n_jobs=n_jobs,
                         metric=metric, random_state=seed)
    score = consistency_score(m)
    report: dict[str, Any] = {
        "days": [str(d) for d in m["train_day"].values], "decoder": decoder, "align": align,
        "metric": metric, "matrix": m.values.tolist(), "consistency": score,
        "mean_diagonal": float(m.values.diagonal().mean()),
        "chance": _chance(days, metric, np),
    }
    if lodo:
        lo = leave_one_day_out(days, est, aligner=al, scheduler=sched, n_jobs=n_jobs,
                               metric=metric, random_state=seed)
        report["leave_one_day_out"] = lo.values.tolist()
    if out:
        from spikedecode.plotting import save_figure
        from spikedecode.serialization import save_json

        outdir = Path(out)
        outdir.mkdir(parents=True, exist_ok=True)
        fig = matrix_figure(m, decoder=decoder, align=align)
        save_figure(fig, outdir / "cross_day.png", dpi=120)
        save_json(report, outdir / "consistency.json")
        report["out"] = str(outdir)
    if as_json:
        echo_json(report)
        return
    echo_table(matrix_rows(m))
    if lodo:
        click.echo("leave-one-day-out " + m.attrs.get("metric", "") + ": " + ", ".join(
            f"test {d}: {v:.3f}" for d, v in zip(lo["test_day"].values, lo.values)))
    ch = report["chance"]
    click.echo(f"chance ({metric}) of a label-blind guess, per test day: " + ", ".join(
        f"{d}: {v:.3f}" for d, v in ch["per_day"].items()) + f" ({ch['rule']})")
    click.echo(f"consistency (mean off-diagonal / mean diagonal): {score:.3f}")
