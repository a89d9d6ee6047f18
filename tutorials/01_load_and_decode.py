# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 01 · Load a recording and decode the stimulus — honestly
#
# This tutorial walks the whole left-to-right flow of spikedecode on two data sets:
#
# 1. a **simulated touch experiment** (the embedded simulator: latent state, stimulus
#    responses, Poisson spikes) — bin at 5 ms, window 5 bins (25 ms), label
#    stimulus-vs-latent, decode with logistic regression, a linear SVM, an MLP and a
#    3-layer LSTM, with 95 % cluster-bootstrap confidence intervals;
# 2. the **real nelpy linear-track recording** (31 hippocampal units, ~33 min): decode
#    the animal's position quintile (while it moves) from 250 ms bins. The reference
#    figure is ≈ 0.59 against 0.20 chance;
# 3. a **null experiment** that shows how much of a spectacular accuracy can be
#    leakage, and why the seed study's "95 % for a bootstrapped LSTM vs ~70 % for linear
#    models" needs a second look.
#
# Run it as `python tutorials/01_load_and_decode.py [--quick] [--out DIR]`.
# `--quick` (< 1 min, used by the test suite) shrinks every step.

# %%
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch

torch.set_num_threads(1)

from spikedecode.datasets import simulate_touch_experiment
from spikedecode.decoders import LSTMDecoder, MLPDecoder, make_decoder
from spikedecode.evaluation import resample_then_split_score, within_day_scores
from spikedecode.preprocess import (
    RandomOverSampler,
    bin_spikes,
    make_windows,
    sliding_windows,
    to_sequences,
)

parser = argparse.ArgumentParser(description="Tutorial 01: load and decode.")
parser.add_argument("--quick", action="store_true", help="tiny settings (< 1 min)")
parser.add_argument("--out", default="out/01_load_and_decode")
parser.add_argument("--parts", default="simulated,nelpy,null",
                    help="comma-separated subset of: simulated, nelpy, null")
args, _ = parser.parse_known_args(None if "ipykernel" not in sys.modules else [])
QUICK = args.quick
OUT = Path(args.out)
OUT.mkdir(parents=True, exist_ok=True)
T0 = time.perf_counter()
PARTS = set(args.parts.split(","))
results: dict = {"quick": QUICK}


def decoders(quick: bool, n_lags: int) -> dict:
    """The four decoders; linear ones search λ by grouped CV, torch ones early-stop."""
    lam = (1e-4, 1e-2, 10**-0.5) if quick else None
    epochs = 3 if quick else 25
    out = {
        "logistic": make_decoder("logistic", lambdas=lam, class_weight="balanced",
                                 random_state=0),
        "svm": make_decoder("svm", lambdas=lam, class_weight="balanced", random_state=0),
        "mlp": MLPDecoder(hidden_layer_sizes=(64,), dropout=0.2, max_epochs=epochs, lr=3e-3,
                          patience=5, bootstrap=True, random_state=0),
        "lstm": LSTMDecoder(hidden_size=8 if quick else 32, num_layers=3, dropout=0.2,
                            max_epochs=epochs, lr=3e-3, batch_size=256, patience=5,
                            bootstrap=True, random_state=0),
    }
    if quick:
        out.pop("svm")
        out.pop("mlp")
    return out


def score_all(X3, y, g, quick: bool, n_boot: int) -> dict:
    rows = {}
    for name, est in decoders(quick, X3.shape[1]).items():
        X = X3 if name in ("mlp", "lstm") else X3.reshape(len(X3), -1)
        t = time.perf_counter()
        r = within_day_scores(est, X, y, g, n_splits=5, n_boot=n_boot, random_state=0)
        rows[name] = {k: r[k] for k in ("accuracy", "accuracy_ci", "balanced_accuracy",
                                        "balanced_accuracy_ci", "majority_chance",
                                        "n_samples", "n_trials")}
        rows[name]["fit_s"] = time.perf_counter() - t
        rows[name]["confusion"] = r["confusion"]
        print(f"  {name:8s} acc {r['accuracy']:.3f} [{r['accuracy_ci'][0]:.3f}, "
              f"{r['accuracy_ci'][1]:.3f}]  balanced {r['balanced_accuracy']:.3f} "
              f"[{r['balanced_accuracy_ci'][0]:.3f}, {r['balanced_accuracy_ci'][1]:.3f}]")
    return rows


# %% [markdown]
# ## 1 · Simulated touch experiment
#
# `make_windows` bins (5 ms bins are `[t_start, t_stop)` like elephant), cuts 5-bin
# windows and labels each one by the epoch it lies in; windows straddling an epoch
# boundary are ambiguous and dropped (and counted in the attrs). Each window carries its
# `trial` (the epoch, or the latent gap it lies in): splitting by `trial` keeps
# overlapping windows of one stroke on one side of every split.

# %%
if "simulated" in PARTS:
    exp = simulate_touch_experiment(
        n_days=1, n_repeats=1, n_strokes=4 if QUICK else 10, n_puffs=2 if QUICK else 10,
        n_units_range=(40, 40), random_state=0,
    )
    rec = exp[0]
    w = make_windows(rec, bin_size=0.005, n_bins=5, step=5, rule="binary",
                     stimulus_labels=["touch/LUM", "touch/LBR"])
    X3, y, g = to_sequences(w)
    labels, counts = np.unique(y, return_counts=True)
    print(f"simulated day: {rec.sizes['unit']} units, {rec.sizes['spike']} spikes, "
          f"{len(y)} windows of 25 ms in {len(np.unique(g))} trials; classes "
          f"{dict(zip(labels.tolist(), counts.tolist()))}; dropped ambiguous "
          f"{w.attrs['n_dropped_ambiguous']}, excluded (air puff) "
          f"{w.attrs['n_dropped_excluded']}")

# %%
if "simulated" in PARTS:
    print("stimulus vs latent, grouped 5-fold CV, 95% cluster-bootstrap CI:")
    results["simulated"] = score_all(X3, y, g, QUICK, 100 if QUICK else 1000)

# %% [markdown]
# Stimulus windows are rare next to latent ones (majority chance is high), so the
# balanced accuracy is the number to read; the linear decoders use balanced class
# weights and the torch decoders a class-balanced bootstrap **of the training fold
# only**. Full run (13,657 windows, 111 trials, 40 units), balanced accuracy with 95 %
# cluster-bootstrap CI: logistic 0.776 [0.748, 0.803], SVM 0.768 [0.742, 0.793],
# MLP 0.734 [0.703, 0.764], 3-layer LSTM 0.779 [0.752, 0.806]: with leakage-safe
# evaluation the LSTM and the linear decoders are indistinguishable.

# %% [markdown]
# ## 2 · Real data: nelpy linear track
#
# `load_nelpy` reads the Frank-lab `spikes.mat` (31 sorted units) and the 60 Hz
# position file into a Recording plus a position DataArray. We bin at 250 ms, keep the
# bins where the rat runs, label each with its position quintile along the track
# (chance 0.20) and group the bins in 10 s blocks so that the CV never tests on a bin
# whose neighbours were trained on.

# %%
from spikedecode.datasets.hippocampus import load_nelpy, position_labels

rec_lt = None
if "nelpy" in PARTS:
    try:
        rec_lt, pos = load_nelpy("linear-track")
    except Exception as err:  # data not shipped with the package
        print(f"skipping the nelpy part: {err}")

if rec_lt is not None:
    binned = bin_spikes(rec_lt, 0.25)
    win = sliding_windows(binned, n_bins=1)
    centres = win["time"].values + 0.125
    lab, moving = position_labels(pos, centres, n_classes=5, min_speed=10.0)
    keep = np.flatnonzero(moving)
    if QUICK:
        keep = keep[: len(keep) // 2]
    win = win.isel(sample=keep).assign_coords(
        label=("sample", lab[keep]), trial=("sample", (centres[keep] // 10).astype(np.int64)))
    Xn, yn, gn = to_sequences(win)
    print(f"linear track: {rec_lt.sizes['unit']} units, {len(yn)} moving 250 ms bins, "
          f"{len(np.unique(gn))} blocks of 10 s")
    print("position quintile while moving (chance 0.20):")
    results["nelpy_linear_track"] = score_all(Xn, yn, gn, QUICK, 100 if QUICK else 1000)

    # The same decoder with a sample-level (leaky) split, for comparison
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    leaky = cross_val_score(make_decoder("logistic", lambdas=(1e-4, 1e-2), random_state=0),
                            Xn.reshape(len(Xn), -1), yn,
                            cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
    results["nelpy_linear_track_sample_split_logistic"] = float(leaky)
    print(f"  (logistic with a shuffled sample-level split instead: {leaky:.3f})")

# %% [markdown]
# With leakage-safe CV all four decoders reach about 0.48 (95 % CI ≈ 0.44–0.52) against
# 0.20 chance with 31 units (full run: logistic 0.480, SVM 0.481, MLP 0.489, LSTM 0.482)
# — the same order of magnitude as the reference 0.59. A shuffled sample-level split adds
# only about 0.01 here (250 ms bins of a running rat change position quickly), so the
# remaining gap comes from the task definition (speed threshold, equal-count quintiles of
# the raw camera x coordinate rather than of a linearised track, one 250 ms bin of
# history) rather than from leakage.

# %% [markdown]
# ## 3 · How much of 95 % can be leakage? A null experiment
#
# Labels are drawn **independently of the spikes** (per trial), windows overlap within a
# trial, classes are unbalanced. Any accuracy above chance is an artefact.
#
# * **Default pipeline** — grouped CV, over-sampling inside the training fold: chance.
# * **Resample, then split** — over-sample the whole data set, then K-fold over samples:
#   copies of a window (and overlapping windows of its trial) sit on both sides; a
#   flexible decoder (here 1-nearest-neighbour, the extreme of memorisation) "decodes"
#   the null labels.

# %%
from sklearn.neighbors import KNeighborsClassifier

if "null" in PARTS:
    rng = np.random.default_rng(0)
    n_trials, per, n_units, lags = (120, 5, 8, 5) if QUICK else (300, 8, 12, 5)
    trial_lab = rng.permutation(np.repeat([0, 1], n_trials // 2))
    Xs, ys, gs = [], [], []
    for t in range(n_trials):
        if trial_lab[t] == 1 and t % 3 == 0:
            continue  # unbalance the classes
        counts_t = rng.poisson(rng.gamma(2.0, 1.0, n_units), size=(per + lags - 1, n_units))
        for k in range(per):
            Xs.append(counts_t[k:k + lags].ravel())
            ys.append(trial_lab[t])
            gs.append(t)
    Xs, ys, gs = np.asarray(Xs, float), np.asarray(ys), np.asarray(gs)
    null = {}
    null["default_logistic"] = within_day_scores(
        make_decoder("logistic", random_state=0), Xs, ys, gs, n_boot=0,
        sampler=RandomOverSampler(random_state=0), random_state=0)["balanced_accuracy"]
    null["default_1nn"] = within_day_scores(
        KNeighborsClassifier(1), Xs, ys, gs, n_boot=0, sampler=RandomOverSampler(random_state=0),
        random_state=0)["balanced_accuracy"]
    null["resample_then_split_1nn"] = resample_then_split_score(
        KNeighborsClassifier(1), Xs, ys, sampler=RandomOverSampler(random_state=0), random_state=0)
    null["resample_then_split_logistic"] = resample_then_split_score(
        make_decoder("logistic", random_state=0), Xs, ys,
        sampler=RandomOverSampler(random_state=0), random_state=0)
    results["null_experiment"] = null
    for k, v in null.items():
        print(f"  null experiment, {k:30s}: {v:.3f}")

# %% [markdown]
# The default pipeline sits at chance (0.5); the resample-then-split protocol reports
# well above it for a memorising decoder, and only slightly above it for a strongly
# regularised linear one. That asymmetry is the point: leakage inflates the most
# flexible decoders the most. A bootstrapped LSTM evaluated after bootstrapping (or with
# overlapping windows of one stroke on both sides of the split) can memorise trials; a
# regularised linear model cannot. So a 95 % vs 70 % gap between an LSTM and linear
# models measured that way may be largely leakage. With leakage-safe evaluation (sections
# 1 and 2), the LSTM and the linear decoders land within each other's confidence
# intervals on our data (full run of this section: default logistic 0.510, default 1-NN
# 0.461, resample-then-split 1-NN 0.821, resample-then-split logistic 0.581).

# %%
if not QUICK:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikedecode.plotting.decoding import plot_confusion, plot_scores

    for part, chance in (("simulated", None), ("nelpy_linear_track", 0.2)):
        if part in results:
            fig = plot_scores(results[part], metric="balanced_accuracy", chance=chance,
                              title=part)
            fig.savefig(OUT / f"scores_{part}.png", dpi=120)
            plt.close(fig)
            fig = plot_confusion(results[part]["logistic"]["confusion"], title=part)
            fig.savefig(OUT / f"confusion_{part}_logistic.png", dpi=120)
            plt.close(fig)

for part in ("simulated", "nelpy_linear_track"):
    for r in results.get(part, {}).values():
        cm = r.pop("confusion")
        r["confusion"] = {"labels": [str(v) for v in cm["true"].values],
                          "counts": cm.values.tolist()}
results["elapsed_s"] = time.perf_counter() - T0
with warnings.catch_warnings():
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=float))
print(f"wrote {OUT / 'results.json'} in {results['elapsed_s']:.1f} s")
