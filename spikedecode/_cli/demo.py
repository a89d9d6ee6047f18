"""``spikedecode demo``: the embedded simulated touch experiment, end to end, in about a minute.

Simulates a small experiment (3 days, 2 touch repeats), bins (5 ms), windows (5 bins),
labels, prints a summary, writes a raster figure, decodes stimulus-vs-latent and
LUM-vs-LBR with logistic / SVM / LSTM under leakage-safe grouped CV, and prints a
cross-day consistency line (units shared between days, no aligner).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np

from spikedecode._cli._common import echo_json, echo_table, threads_option

__all__ = ["command", "run_demo"]


def run_demo(*, n_days: int = 3, decoders: tuple[str, ...] = ("logistic", "svm", "lstm"),
             out: str | Path | None = None, seed: int = 0, n_boot: int = 200,
             quick: bool = True) -> dict[str, Any]:
    """Run the demo and return its report (also used by tests).

    Runs on one thread (the demo's models are tiny) unless ``--threads`` or
    ``$SPIKEDECODE_NUM_THREADS`` ask for more; the caller's thread counts are restored.
    """
    from spikedecode._threads import requested_n_threads, thread_limits

    with thread_limits(requested_n_threads() or 1):
        return _run_demo(n_days=n_days, decoders=decoders, out=out, seed=seed, n_boot=n_boot,
                         quick=quick)


def _run_demo(*, n_days: int, decoders: tuple[str, ...], out: str | Path | None, seed: int,
              n_boot: int, quick: bool) -> dict[str, Any]:
    from spikedecode._cli.decode import cli_decoder, decode_windows, jsonable, score_rows
    from spikedecode.datasets import simulate_touch_experiment
    from spikedecode.errors import DataDroppedWarning
    from spikedecode.evaluation import consistency_score, cross_day_matrix
    from spikedecode.preprocess import make_windows

    t0 = time.perf_counter()
    exp = simulate_touch_experiment(
        n_days=n_days, n_repeats=1 if quick else 2, n_strokes=6 if quick else 10,
        n_puffs=2 if quick else 10,
        n_units_range=(25, 35), unit_overlap=0.6, random_state=seed,
    )
    report: dict[str, Any] = {"days": {}, "within_day": [], "timing_s": {}}
    for d, rec in exp.items():
        report["days"][str(d)] = {
            "n_units": int(rec.sizes["unit"]), "n_spikes": int(rec.sizes["spike"]),
            "duration_s": float(rec.attrs["t_stop"] - rec.attrs["t_start"]),
            "n_epochs": int(rec.sizes.get("epoch", 0)),
        }
    report["timing_s"]["simulate"] = time.perf_counter() - t0
    if out is not None:
        try:
            import matplotlib

            matplotlib.use("Agg", force=False)

            from spikedecode.plotting import save_figure
            from spikedecode.plotting.raster import plot_raster

            rec0 = exp[0]
            ep = rec0["epoch_start"].values
            t_a = float(ep[len(ep) // 3]) - 2.0 if len(ep) else None
            fig = plot_raster(rec0, t_start=t_a, t_stop=None if t_a is None else t_a + 20.0)
            Path(out).mkdir(parents=True, exist_ok=True)
            save_figure(fig, Path(out) / "raster_day0.png", dpi=110)
            report["raster"] = str(Path(out) / "raster_day0.png")
        except ImportError:  # plotting is optional
            report["raster"] = None
    t1 = time.perf_counter()
    # step=5: non-overlapping 25 ms windows keep the demo fast; grouped CV handles overlap
    binary = make_windows(exp[0], bin_size=0.005, n_bins=5, step=5, rule="binary",
                          stimulus_labels=["touch/LUM", "touch/LBR"])
    sites = make_windows(exp[0], bin_size=0.005, n_bins=5, step=5, rule="multiclass",
                         stimulus_labels=["touch/LUM", "touch/LBR"])
    sites = sites.isel(sample=np.flatnonzero(sites["label"].values != sites.attrs.get(
        "latent_label", "latent")))
    for task, w in (("stimulus vs latent", binary), ("LUM vs LBR", sites)):
        res = decode_windows(w, list(decoders), n_splits=4 if quick else 5, n_boot=n_boot,
                             random_state=seed, max_epochs=5 if quick else 60, small=quick)
        report["within_day"] += score_rows(res, task=task)
        report.setdefault("details", {})[task] = jsonable(res)
    report["timing_s"]["within_day"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    days = {d: make_windows(r, bin_size=0.005, n_bins=5, step=5, rule="binary",
                            stimulus_labels=["touch/LUM", "touch/LBR"]) for d, r in exp.items()}
    with warnings.catch_warnings():
        # units not shared by every day are dropped on purpose here
        warnings.simplefilter("ignore", DataDroppedWarning)
        m = cross_day_matrix(days, cli_decoder("logistic", random_state=seed),
                             scheduler="sync", metric="balanced_accuracy", random_state=seed)
    report["cross_day"] = {"matrix": m.values.tolist(), "n_shared_units": m.attrs["n_units"],
                           "consistency": consistency_score(m)}
    report["timing_s"]["cross_day"] = time.perf_counter() - t2
    report["timing_s"]["total"] = time.perf_counter() - t0
    return report


@click.command("demo")
@threads_option()
@click.option("--out", default="out/demo", show_default=True, type=click.Path(),
              help="Folder for the raster figure.")
@click.option("--days", "n_days", default=3, show_default=True)
@click.option("--decoders", default="logistic,svm,lstm", show_default=True)
@click.option("--full", is_flag=True, help="Larger simulation and longer training.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(out: str, n_days: int, decoders: str, full: bool, seed: int, as_json: bool) -> None:
    """Simulate a small touch experiment and decode it end to end (about a minute)."""
    kinds = tuple(k.strip() for k in decoders.split(",") if k.strip())
    report = run_demo(n_days=n_days, decoders=kinds, out=out, seed=seed, quick=not full)
    if as_json:
        echo_json(report)
        return
    click.echo(f"simulated {len(report['days'])} days:")
    echo_table([{"day": d, **v} for d, v in report["days"].items()])
    if report.get("raster"):
        click.echo(f"raster figure: {report['raster']}")
    click.echo("\nwithin-day decoding (day 0, grouped K-fold CV, 95% cluster-bootstrap CI):")
    echo_table(report["within_day"], ["task", "decoder", "accuracy", "acc_ci", "majority",
                                      "balanced_acc", "bal_ci", "bal_chance", "n_windows",
                                      "n_trials"])
    click.echo("(majority: accuracy of always guessing the largest class; bal_chance: "
               "chance level of balanced accuracy)")
    cd = report["cross_day"]
    click.echo(
        f"\ncross-day (logistic, {cd['n_shared_units']} shared units, balanced accuracy): "
        f"mean diagonal "
        f"{np.mean(np.diag(cd['matrix'])):.3f}, consistency (off/diag) {cd['consistency']:.3f}"
    )
    click.echo(f"total {report['timing_s']['total']:.1f} s")
