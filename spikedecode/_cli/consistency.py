"""``spikedecode consistency FILES|DIR``: cross-day decoding matrix and consistency score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from spikedecode._cli._common import config_option, echo_json, echo_table, parse_duration

__all__ = ["command", "resolve_aligner"]

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
    if text in (None, "", "local"):
        return None
    return text


@click.command("consistency")
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
              help="'sync', 'local' (default: a local Dask cluster) or 'tcp://host:port'.")
@click.option("--n-jobs", default=2, show_default=True, help="Workers of the local cluster.")
@click.option("--lodo", is_flag=True, help="Also run leave-one-day-out.")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default=None, type=click.Path(), help="Folder for the heatmap and JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(paths: tuple[str, ...], decoder: str, align: str, n_components: int, bin_size: str,
            n_bins: int, step: int, rule: str, stimuli: str | None, scheduler: str | None,
            n_jobs: int, lodo: bool, seed: int, out: str | None, as_json: bool) -> None:
    """Cross-day matrix (train day x test day) over recordings in PATHS (files or a folder)."""
    from spikedecode._cli.decode import build_decoder
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
    est = build_decoder(decoder, random_state=seed)
    sched = _parse_scheduler(scheduler)
    m = cross_day_matrix(days, est, aligner=al, scheduler=sched, n_jobs=n_jobs,
                         random_state=seed)
    score = consistency_score(m)
    report: dict[str, Any] = {
        "days": [str(d) for d in m["train_day"].values], "decoder": decoder, "align": align,
        "matrix": m.values.tolist(), "consistency": score,
        "mean_diagonal": float(m.values.diagonal().mean()),
    }
    if lodo:
        lo = leave_one_day_out(days, est, aligner=al, scheduler=sched, n_jobs=n_jobs,
                               random_state=seed)
        report["leave_one_day_out"] = lo.values.tolist()
    if out:
        from spikedecode._optional import pyplot
        from spikedecode.plotting.decoding import plot_cross_day
        from spikedecode.serialization import save_json

        outdir = Path(out)
        outdir.mkdir(parents=True, exist_ok=True)
        fig = plot_cross_day(m)
        fig.savefig(outdir / "cross_day.png", dpi=120)
        pyplot().close(fig)
        save_json(report, outdir / "consistency.json")
        report["out"] = str(outdir)
    if as_json:
        echo_json(report)
        return
    rows = [{"train_day": str(d), **{str(t): float(v) for t, v in
                                      zip(m["test_day"].values, m.sel(train_day=d).values)}}
            for d in m["train_day"].values]
    echo_table(rows)
    click.echo(f"consistency (mean off-diagonal / mean diagonal): {score:.3f}")
