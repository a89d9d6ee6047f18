"""``spikedecode decode FILE``: leakage-safe within-day decoding of the stimulus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from spikedecode._cli._common import config_option, echo_json, echo_table, parse_duration

__all__ = ["command", "build_decoder", "decode_windows", "DECODERS"]

DECODERS = ("logistic", "svm", "mlp", "lstm")


def build_decoder(kind: str, *, random_state: int = 0, max_epochs: int = 60,
                  progress: bool = False, small: bool = False) -> Any:
    """A decoder with CLI-friendly settings (small torch models, early stopping).

    ``small=True`` shrinks the torch models (hidden 16) for the demo.
    """
    from spikedecode.decoders import make_decoder

    if kind in ("logistic", "svm"):
        # stimulus windows are rare next to latent ones: weight classes
        return make_decoder(kind, class_weight="balanced", random_state=random_state)
    if kind == "mlp":
        return make_decoder("mlp", hidden_sizes=(16,) if small else (64,), dropout=0.2,
                            max_epochs=max_epochs,
                            lr=3e-3, patience=8, bootstrap=True, random_state=random_state,
                            progress=progress)
    if kind == "lstm":
        # class-balanced bootstrap of the training fold (never of the test fold)
        return make_decoder("lstm", hidden_size=16 if small else 32, num_layers=3,
                            dropout=0.2, max_epochs=max_epochs, lr=3e-3,
                            batch_size=256 if small else 128, patience=8,
                            bootstrap=True, random_state=random_state, progress=progress)
    from spikedecode.errors import ConfigError

    raise ConfigError(f"--decoder == {kind!r}, must be one of {', '.join(DECODERS)}.")


def _sampler(balance: str, seed: int) -> Any:
    if balance == "none":
        return None
    from spikedecode.preprocess import RandomOverSampler, RandomUnderSampler

    return (RandomUnderSampler if balance == "under" else RandomOverSampler)(random_state=seed)


def decode_windows(windows: Any, kinds: list[str], *, n_splits: int = 5, n_boot: int = 1000,
                   n_permutations: int = 0, balance: str = "none", random_state: int = 0,
                   max_epochs: int = 60, small: bool = False) -> dict[str, dict[str, Any]]:
    """Within-day scores of each decoder kind on one labelled Windows DataArray."""
    from spikedecode.evaluation import within_day_scores
    from spikedecode.preprocess import to_sequences

    X3, y, g = to_sequences(windows)
    out = {}
    for kind in kinds:
        est = build_decoder(kind, random_state=random_state, max_epochs=max_epochs,
                            small=small)
        X = X3 if kind in ("mlp", "lstm") else X3.reshape(len(X3), -1)
        out[kind] = within_day_scores(est, X, y, g, n_splits=n_splits, n_boot=n_boot,
                                      n_permutations=n_permutations if kind in ("logistic",
                                                                                "svm") else 0,
                                      sampler=_sampler(balance, random_state),
                                      random_state=random_state)
    return out


def score_rows(results: dict[str, dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    """Flatten :func:`decode_windows` results into table rows."""
    rows = []
    for kind, r in results.items():
        row = {**extra, "decoder": kind, "accuracy": r["accuracy"],
               "acc_ci": f"[{r['accuracy_ci'][0]:.3f}, {r['accuracy_ci'][1]:.3f}]",
               "balanced_acc": r["balanced_accuracy"],
               "bal_ci": f"[{r['balanced_accuracy_ci'][0]:.3f}, "
                         f"{r['balanced_accuracy_ci'][1]:.3f}]",
               # chance of each metric: the majority rate bounds plain accuracy, while
               # balanced accuracy's chance is 1 / n_classes
               "majority": r["majority_chance"],
               "bal_chance": r["balanced_chance"],
               "n_windows": r["n_samples"], "n_trials": r["n_trials"]}
        if "chance" in r:  # label-permutation chance of accuracy (--permutations)
            row["perm_chance"] = r["chance"]
            row["p_value"] = r["p_value"]
        rows.append(row)
    return rows


def jsonable(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Drop arrays/DataArrays from results, keeping the confusion matrix as lists."""
    out = {}
    for kind, r in results.items():
        d = {k: v for k, v in r.items() if k not in ("y_pred", "confusion", "null")}
        cm = r["confusion"]
        d["confusion"] = {"labels": [str(v) for v in cm["true"].values],
                          "counts": cm.values.tolist()}
        out[kind] = d
    return out


@click.command("decode")
@config_option("decode")
@click.argument("file", type=click.Path(exists=True))
@click.option("--decoder", "decoders", default="logistic",
              help="Comma-separated decoders: logistic, svm, mlp, lstm.")
@click.option("--bin", "bin_size", default="5ms", show_default=True, help="Bin size.")
@click.option("--window", "n_bins", default=5, show_default=True, help="Bins per window.")
@click.option("--step", default=1, show_default=True, help="Window stride in bins.")
@click.option("--labels", "rule", type=click.Choice(["multiclass", "binary"]),
              default="multiclass", show_default=True,
              help="multiclass: each stimulus vs latent; binary: stimulus vs latent.")
@click.option("--stimuli", default=None,
              help="Comma-separated epoch labels to decode (others excluded).")
@click.option("--intervals", default=None,
              help="NWB: interval table(s) whose rows are the trials (see `spikedecode info`); "
                   "rows of the other tables are excluded, not latent.")
@click.option("--label-column", default=None,
              help="NWB: column of those tables that labels the trials.")
@click.option("--balance", type=click.Choice(["none", "under", "over"]), default="none",
              show_default=True, help="Resample the training folds (never the test folds).")
@click.option("--n-splits", default=5, show_default=True)
@click.option("--n-boot", default=1000, show_default=True, help="Bootstrap replicates.")
@click.option("--permutations", default=0, show_default=True,
              help="Label permutations for chance (linear decoders).")
@click.option("--max-epochs", default=60, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default=None, type=click.Path(), help="Folder for report.json and figures.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(file: str, decoders: str, bin_size: str, n_bins: int, step: int, rule: str,
            stimuli: str | None, balance: str, n_splits: int, n_boot: int, permutations: int,
            max_epochs: int, seed: int, out: str | None, as_json: bool,
            intervals: str | None = None, label_column: str | None = None) -> None:
    """Decode the stimulus from one recording FILE with leakage-safe grouped CV."""
    from spikedecode.io import read
    from spikedecode.preprocess import make_windows

    kinds = [k.strip() for k in decoders.split(",") if k.strip()]
    for k in kinds:
        build_decoder(k)  # validates the name
    from spikedecode._cli.info import nwb_read_kwargs

    rec = read(file, **nwb_read_kwargs(file, intervals, label_column))
    kw: dict[str, Any] = {}
    if stimuli:
        kw["stimulus_labels"] = [s.strip() for s in stimuli.split(",")]
    w = make_windows(rec, bin_size=parse_duration(bin_size), n_bins=n_bins, step=step,
                     rule=rule, **kw)
    results = decode_windows(w, kinds, n_splits=n_splits, n_boot=n_boot,
                             n_permutations=permutations, balance=balance,
                             random_state=seed, max_epochs=max_epochs)
    report = {"file": str(file), "bin_size": parse_duration(bin_size), "n_bins": n_bins,
              "step": step, "labels": rule, "balance": balance, "n_units": int(w.sizes["unit"]),
              "results": jsonable(results)}
    if out:
        from spikedecode.plotting.decoding import plot_confusion
        from spikedecode.serialization import save_json

        outdir = Path(out)
        outdir.mkdir(parents=True, exist_ok=True)
        for kind, r in results.items():
            fig = plot_confusion(r["confusion"], title=f"{kind}: acc {r['accuracy']:.2f}")
            fig.savefig(outdir / f"confusion_{kind}.png", dpi=120)
            import matplotlib.pyplot as plt

            plt.close(fig)
        save_json(report, outdir / "report.json")
        report["out"] = str(outdir)
    if as_json:
        echo_json(report)
        return
    echo_table(score_rows(results))
