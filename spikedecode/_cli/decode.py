"""``spikedecode decode FILE``: leakage-safe within-day decoding of the stimulus."""

from __future__ import annotations

import sys
from collections.abc import Callable
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

__all__ = ["command", "cli_decoder", "decode_windows", "DECODERS", "PRESETS"]

DECODERS = ("logistic", "svm", "mlp", "lstm")


#: ``--preset``: "fast" (the default) and the seed study's heavier settings, "study".
PRESETS = ("fast", "study")


def cli_decoder(kind: str, *, random_state: int = 0, max_epochs: int = 60,
                  progress: bool = False, small: bool = False, preset: str = "fast") -> Any:
    """A decoder with CLI-friendly settings (small torch models, early stopping).

    ``small=True`` shrinks the torch models (hidden 16) for the demo. ``preset="study"``
    builds the seed study's LSTM (3 layers, batch 128, patience 8, class-balanced bootstrap
    up to the largest class); ``"fast"`` the same net with batch 256, patience 5 and a
    balanced bootstrap of the fold's size (docs/decoding.md gives the numbers).
    """
    from spikedecode.decoders import make_decoder

    if kind in ("logistic", "svm"):
        # stimulus windows are rare next to latent ones: weight classes
        return make_decoder(kind, class_weight="balanced", random_state=random_state)
    study = preset == "study"
    # class-balanced bootstrap of the training fold (never of the test fold): the study
    # draws every class up to the largest one; "fast" keeps the fold's size, so an epoch
    # costs what the fold holds (2.4x less LSTM time on the shared NWB session, balanced
    # accuracy unchanged: docs/decoding.md)
    bootstrap: bool | str = True if study else "fold"
    if kind == "mlp":
        return make_decoder("mlp", hidden_layer_sizes=(16,) if small else (64,), dropout=0.2,
                            max_epochs=max_epochs,
                            lr=3e-3, patience=8, bootstrap=bootstrap,
                            random_state=random_state, progress=progress)
    if kind == "lstm":
        # "fast": larger batches and shorter patience than the study (docs/decoding.md)
        return make_decoder("lstm", hidden_size=16 if small else 32, num_layers=3,
                            dropout=0.2, max_epochs=max_epochs, lr=3e-3,
                            batch_size=128 if study and not small else 256,
                            patience=8 if study else 5, bootstrap=bootstrap,
                            random_state=random_state, progress=progress)
    from spikedecode.errors import ConfigError

    raise ConfigError(f"--decoder == {kind!r}, must be one of {', '.join(DECODERS)}.")


def _auto_int(value: Any, default: Any) -> Any:
    """An option that takes an integer or 'auto' (None: ``default``)."""
    if value is None:
        return default
    if isinstance(value, int) or str(value).strip() == "auto":
        return value if isinstance(value, int) else "auto"
    try:
        return int(str(value).strip())
    except ValueError:
        if default is None:  # --window: the caller names the problem
            return value
        raise click.UsageError(f"{value!r} is not an integer or 'auto'.") from None


def _sampler(balance: str, seed: int) -> Any:
    if balance == "none":
        return None
    from spikedecode.preprocess import RandomOverSampler, RandomUnderSampler

    return (RandomUnderSampler if balance == "under" else RandomOverSampler)(random_state=seed)


def decode_windows(windows: Any, kinds: list[str], *, n_splits: int = 5, n_boot: int = 1000,
                   n_permutations: int = 0, balance: str = "none", random_state: int = 0,
                   max_epochs: int = 60, small: bool = False, preset: str = "fast",
                   progress: bool = False,
                   on_result: Callable[[str, dict[str, Any]], None] | None = None,
                   ) -> dict[str, dict[str, Any]]:
    """Within-day scores of each decoder kind on one labelled Windows DataArray.

    ``progress`` shows tqdm bars on stderr (decoder, fold, epoch); ``on_result(kind,
    result)`` is called as soon as each decoder is scored (the CLI writes it to disk).
    """
    from spikedecode.evaluation import within_day_scores
    from spikedecode.preprocess import to_sequences

    X3, y, g = to_sequences(windows)
    out = {}
    for i, kind in enumerate(kinds):
        est = cli_decoder(kind, random_state=random_state, max_epochs=max_epochs,
                            small=small, preset=preset, progress=progress)
        X = X3 if kind in ("mlp", "lstm") else X3.reshape(len(X3), -1)
        out[kind] = within_day_scores(est, X, y, g, n_splits=n_splits, n_boot=n_boot,
                                      n_permutations=n_permutations if kind in ("logistic",
                                                                                "svm") else 0,
                                      sampler=_sampler(balance, random_state),
                                      random_state=random_state,
                                      progress=f"{kind} ({i + 1}/{len(kinds)}) folds"
                                      if progress else False)
        if on_result is not None:
            on_result(kind, out[kind])
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


def _show_progress(as_json: bool) -> bool:
    """Progress bars go to stderr, and only to a terminal: never with --json or in a pipe."""
    return not as_json and sys.stderr.isatty()


def default_out(file: str | Path) -> Path:
    """``out/decode/<file stem>``: where ``decode`` writes when ``--out`` is not given."""
    name = Path(file).name.split(".")[0] or "recording"
    return Path("out") / "decode" / name


def describe_task(windows: Any) -> tuple[str, list[tuple[str, int]]]:
    """(one-line task description, [(class, n_windows), ...]) of labelled windows."""
    import numpy as np

    attrs = windows.attrs
    rule = attrs.get("rule", "?")
    latent = attrs.get("latent_label", "latent")
    what = ("each stimulus vs " + latent if rule == "multiclass"
            else f"stimulus vs {latent}" if rule == "binary" else str(rule))
    bin_ms = float(windows.attrs.get("bin_size", np.nan)) * 1000
    n_bins = int(windows.sizes.get("lag", 0))
    step = attrs.get("step")
    task = f"{rule}: {what}; windows of {n_bins} x {bin_ms:g} ms"
    if step is not None:
        task += f", stride {step} bin(s)"
    labels, counts = np.unique(np.asarray(windows["label"].values).astype(str),
                               return_counts=True)
    return task, [(str(lab), int(c)) for lab, c in zip(labels, counts)]


def _on_result(outdir: Path, kind: str, result: dict[str, Any], meta: dict[str, Any],
               as_json: bool) -> None:
    """Write one decoder's result as soon as it is scored, and say so on the terminal."""
    path = _write_result(outdir, kind, result, meta)
    if not as_json:
        lo, hi = result["balanced_accuracy_ci"]
        click.echo(f"{kind}: balanced accuracy {result['balanced_accuracy']:.3f} "
                   f"[{lo:.3f}, {hi:.3f}] (chance {result['balanced_chance']:.3f}) -> {path}")


def _write_result(outdir: Path, kind: str, result: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write one decoder's result (JSON, atomically) and its confusion figure."""
    from spikedecode.serialization import save_json

    path = outdir / f"{kind}.json"
    save_json({**meta, "decoder": kind, **jsonable({kind: result})[kind]}, path)
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)

        from spikedecode.plotting import save_figure
        from spikedecode.plotting.decoding import plot_confusion
    except ImportError:  # plotting is optional
        return path
    fig = plot_confusion(result["confusion"], title=f"{kind}: acc {result['accuracy']:.2f}")
    save_figure(fig, outdir / f"confusion_{kind}.png", dpi=120)
    return path


def _echo_summary(report: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    """The human-readable report: what was decoded, from where, into which classes."""
    classes = ", ".join(f"{c} ({n})" for c, n in report["classes"])
    click.echo(f"file:    {report['file']}")
    click.echo(f"task:    {report['task']}")
    click.echo(f"classes: {classes}")
    click.echo(f"units:   {report['n_units']}")
    echo_table(score_rows(results))
    click.echo(f"wrote:   {report['out']} (report.json, <decoder>.json, confusion_<decoder>.png)")


@click.command("decode")
@config_option("decode")
@threads_option()
@click.argument("file", type=click.Path(exists=True))
@click.option("--decoder", "decoders", default="logistic",
              help="Comma-separated decoders: logistic, svm, mlp, lstm.")
@click.option("--bin", "bin_size", default=None,
              help="Bin size [default: 5ms; with --align: the whole window, and 100 ms bins "
                   "for --time-resolved].")
@click.option("--window", "n_bins", default="5", show_default=True,
              help="Bins per window; with --align: START:STOP relative to the event, "
                   "e.g. 0.2s:1.2s.")
@click.option("--step", default=None, type=int,
              help="Window stride in bins [default: the window length (non-overlapping); "
                   "1 with --preset study].")
@click.option("--labels", "rule", type=click.Choice(["multiclass", "binary"]),
              default="multiclass", show_default=True,
              help="multiclass: each stimulus vs latent; binary: stimulus vs latent.")
@click.option("--stimuli", default=None,
              help="Comma-separated epoch labels to decode (others excluded); with --align: "
                   "values of --label-column to keep.")
@click.option("--intervals", default=None,
              help="NWB: interval table(s) whose rows are the trials (see `spikedecode info`); "
                   "rows of the other tables are excluded, not latent.")
@click.option("--label-column", default=None,
              help="NWB: column of those tables that labels the trials; TABLE:COL,TABLE2:COL2 "
                   "gives each table its own column.")
@click.option("--align", default=None,
              help="NWB: decode one window per row of --intervals TABLE, aligned to this time "
                   "column (start_time, stop_time, boundary1_time, ...; see `spikedecode info`).")
@click.option("--vs-baseline", "vs_baseline", default=None,
              help="With --align: decode the window against the pre-event window START:STOP "
                   "of the same trial (e.g. -1s:0s) instead of --label-column.")
@click.option("--repeats", default=None,
              help="Re-seeded CV repeats folded into the CI ('auto': 10 below 300 trials) "
                   "[default: 1; with --align: auto].")
@click.option("--time-resolved", "time_resolved", is_flag=True,
              help="With --align: also the score in every --bin after the event (band, "
                   "permutation chance, cluster test) and the temporal generalization matrix.")
@click.option("--balance", type=click.Choice(["none", "under", "over"]), default="none",
              show_default=True, help="Resample the training folds (never the test folds).")
@click.option("--n-splits", default=5, show_default=True)
@click.option("--n-boot", default=1000, show_default=True, help="Bootstrap replicates.")
@click.option("--permutations", default=None,
              help="Label permutations for chance (linear decoders); 'auto': 100 below 300 "
                   "trials [default: 0; with --align: auto].")
@click.option("--preset", type=click.Choice(PRESETS), default="fast", show_default=True,
              help="fast: non-overlapping windows, LSTM batch 256, patience 5, at most 30 "
                   "epochs; study: the seed study's stride-1 windows, batch 128, patience 8, "
                   "60 epochs (over 50 min for the README command on a CPU).")
@click.option("--max-epochs", default=None, type=int,
              help="Torch decoders' epoch cap [default: 30, or 60 with --preset study].")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default=None, type=click.Path(),
              help="Folder for the results [default: out/decode/<file name>].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (no progress).")
@click.option("--target", default=None,
              help="Decode a continuous behaviour series instead of the stimulus: its name "
                   "in the NWB file (see `spikedecode info`), or columns of --behavior; "
                   "decoders wiener (default), wiener_cascade, kalman, poisson_bayes.")
@click.option("--behavior", "behavior_table", default=None, type=click.Path(exists=True),
              help="With --target: a csv/tsv table with a 'time' column (s) and the target "
                   "columns.")
def command(file: str, decoders: str, bin_size: str | None, n_bins: str, step: int | None,
            rule: str, stimuli: str | None, balance: str, n_splits: int, n_boot: int,
            permutations: str | None, preset: str, max_epochs: int | None, seed: int,
            out: str | None, as_json: bool, intervals: str | None = None,
            label_column: str | None = None, align: str | None = None,
            vs_baseline: str | None = None, repeats: str | None = None,
            time_resolved: bool = False, target: str | None = None,
            behavior_table: str | None = None) -> None:
    """Decode the stimulus from one recording FILE with leakage-safe grouped CV.

    Each decoder's result is written to the output folder (``<decoder>.json``) as soon
    as it is scored; ``report.json`` holds all of them at the end. Progress bars go to
    stderr on a terminal and never with ``--json``. With ``--target`` a continuous
    behaviour series is decoded instead (R² with block-bootstrap CIs from blocked CV,
    and a predicted-vs-true trace figure).
    """
    from spikedecode._cli._common import check_cli_numbers, check_out_dir
    from spikedecode.io import read
    from spikedecode.preprocess import make_windows
    from spikedecode.serialization import save_json

    check_cli_numbers(seed=seed, n_boot=n_boot, n_splits=n_splits, step=step,
                      max_epochs=max_epochs)
    if target is not None or behavior_table is not None:
        from spikedecode._cli.decode_continuous import decode_target

        decode_target(file, target=target, behavior_table=behavior_table, decoders=decoders,
                      bin_size=bin_size or "5ms", n_bins=_auto_int(n_bins, None),
                      n_splits=n_splits, n_boot=n_boot, seed=seed,
                      outdir=check_out_dir(Path(out) if out else default_out(file)),
                      as_json=as_json)
        return

    kinds = [k.strip() for k in decoders.split(",") if k.strip()]
    if not kinds:
        from spikedecode.errors import ConfigError

        raise ConfigError(f"--decoder == {decoders!r} names no decoder; give one or more of "
                          f"{', '.join(DECODERS)}, comma-separated.")
    for k in kinds:
        cli_decoder(k)  # validates the name
    from spikedecode._cli.info import nwb_read_kwargs

    if max_epochs is None:
        max_epochs = 60 if preset == "study" else 30
    outdir = check_out_dir(Path(out) if out else default_out(file))
    if not as_json:
        click.echo(f"writing to {outdir}")
    if align is not None or vs_baseline is not None or time_resolved:
        from spikedecode._cli.events import decode_events

        if align is None or intervals is None:
            raise click.UsageError("--vs-baseline and --time-resolved need --intervals TABLE "
                                   "--align COLUMN.")
        for key, v in (("permutations", _auto_int(permutations, "auto")),
                       ("repeats", _auto_int(repeats, "auto"))):
            if isinstance(v, int):
                check_cli_numbers(**{key: v})
        report = decode_events(
            file=file, table=intervals, align=align, window=str(n_bins),
            label_column=label_column, baseline=vs_baseline, bin_size=bin_size, kinds=kinds,
            n_splits=n_splits, n_boot=n_boot, permutations=_auto_int(permutations, "auto"),
            repeats=_auto_int(repeats, "auto"), seed=seed, outdir=outdir,
            time_resolved=time_resolved, as_json=as_json, max_epochs=max_epochs,
            preset=preset, stimuli=stimuli, sampler=_sampler(balance, seed),
            fallback=cli_decoder, to_json=jsonable)
        if as_json:
            echo_json(report)
        return
    n_bins_int = _auto_int(n_bins, None)
    if not isinstance(n_bins_int, int):
        try:
            as_number: float | None = float(str(n_bins))
        except ValueError:
            as_number = None
        if as_number is not None:  # a number, not a whole count of bins: name the range
            check_cli_numbers(n_bins=as_number)
        raise click.UsageError(f"--window == {n_bins!r}: bins per window (an integer); "
                               "START:STOP windows need --intervals TABLE --align COLUMN.")
    if step is None:
        step = 1 if preset == "study" else n_bins_int
    bin_size = bin_size or "5ms"
    n_perm = _auto_int(permutations, 0)
    check_cli_numbers(n_bins=n_bins_int, permutations=n_perm)
    rec = read(file, **nwb_read_kwargs(file, intervals, label_column))
    kw: dict[str, Any] = {}
    if stimuli:
        kw["stimulus_labels"] = [s.strip() for s in stimuli.split(",")]
    w = make_windows(rec, bin_size=parse_duration(bin_size), n_bins=n_bins_int, step=step,
                     rule=rule, **kw)
    task, classes = describe_task(w)
    meta = {"file": str(file), "task": task, "classes": classes,
            "bin_size": parse_duration(bin_size), "n_bins": n_bins_int, "step": step,
            "labels": rule, "balance": balance, "preset": preset,
            "n_units": int(w.sizes["unit"])}
    results = decode_windows(w, kinds, n_splits=n_splits, n_boot=n_boot,
                             n_permutations=n_perm, balance=balance,
                             random_state=seed, max_epochs=max_epochs, preset=preset,
                             progress=_show_progress(as_json),
                             on_result=lambda kind, r: _on_result(outdir, kind, r, meta,
                                                                  as_json))
    report = {**meta, "results": jsonable(results), "out": str(outdir)}
    save_json(report, outdir / "report.json")
    if as_json:
        echo_json(report)
        return
    _echo_summary(report, results)
