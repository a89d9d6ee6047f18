# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 08 · Continuous decoding: velocity and position from spikes
#
# Half of what neuroscientists decode is continuous. This tutorial decodes
#
# 1. **hand velocity** from monkey motor cortex (`dad/chewie_demo.mat`, 71 channels,
#    two recording days) with a Wiener filter, a Wiener cascade and a Kalman filter,
#    within a day and from one day to the next;
# 2. the **position** of a rat on a linear track (nelpy, 31 hippocampal units, 60 Hz
#    tracking) with a Poisson place-field (Bayesian) decoder, and the position quintile
#    with the classifiers of tutorial 01;
# 3. the rat's 2-D position on the **W-maze** (25 units, 72 min);
# 4. a **null**: why a shuffled K-fold must never score a time series.
#
# Every score comes from contiguous-block cross-validation with a gap of at least the
# window length between training and test blocks, with 95 % block-bootstrap confidence
# intervals. Run it as `python tutorials/08_continuous.py [--quick] [--out DIR]`
# (`--quick`: fewer bootstrap replicates and null sets; well under a minute).

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

from spikedecode.decoders import make_decoder
from spikedecode.errors import DataDroppedWarning, FileFormatError
from spikedecode.evaluation import (
    r2_per_output,
    regression_scores,
    shuffled_kfold_score,
    within_day_scores,
)
from spikedecode.plotting.continuous import plot_r2, plot_trace
from spikedecode.preprocess import (
    bin_behavior,
    bin_spikes,
    make_behavior,
    target_windows,
    to_sequences,
)

parser = argparse.ArgumentParser(description="Tutorial 08: continuous decoding.")
parser.add_argument("--quick", action="store_true", help="small settings (< 1 min)")
parser.add_argument("--out", default="out/08_continuous")
args, _ = parser.parse_known_args(None if "ipykernel" not in sys.modules else [])
QUICK = args.quick
OUT = Path(args.out)
OUT.mkdir(parents=True, exist_ok=True)
T0 = time.perf_counter()
N_BOOT = 200 if QUICK else 2000
results: dict = {"quick": QUICK}


def summary(r: dict) -> dict:
    """The numbers of a regression_scores result worth keeping (no arrays)."""
    keep = ("r2", "r2_ci", "r2_vw", "r2_vw_ci", "median_error", "median_error_ci",
            "n_samples", "gap", "chance", "chance_ci", "p_value")
    return {k: r[k] for k in keep if k in r}


# %% [markdown]
# ## 1 · Hand velocity on chewie, within a day
#
# `load_chewie` returns, per day, the Binned counts, the velocity as a *Behavior* series
# (the data model's continuous target, `(time, channel)`) and the reach target of each
# bin. `target_windows` cuts 4 bins of spike history plus the target bin in front of
# every velocity bin — causal decoding: no spike after the end of the bin being
# decoded — and `to_sequences` gives `X` (sample, lag, unit) and `Y` (sample, x/y).

# %%
from spikedecode.datasets.dad import load_chewie

try:
    chewie = load_chewie()
except FileFormatError as err:  # the shared data are absent on a user's machine
    chewie = None
    print(f"skipping chewie: {err}")

if chewie is not None:
    windows = {}
    for day, (binned, velocity, _) in chewie.items():
        windows[day] = to_sequences(target_windows(binned, velocity, bins_before=4))[:2]
    X, Y = windows["tr"]
    print("day tr:", X.shape, "windows,", Y.shape[1], "velocity components")

# %% [markdown]
# The three classic decoders (Glaser et al. 2020), and in the full run an LSTM regressor
# (`make_decoder("lstm_regression")`). The Wiener filter is a ridge
# regression on the lagged counts whose λ is itself picked by blocked CV inside each
# training fold; the Kalman filter (Wu et al. 2003) reads the target bin's counts and
# carries the velocity forward with a linear dynamical model. `regression_scores` (also
# reached through `within_day_scores` for any regressor) pools the out-of-fold
# predictions of 5 contiguous blocks, leaving a gap of 5 bins (the window length) on
# each side of every test block.

# %%
if chewie is not None:
    models = {"wiener": (make_decoder("wiener"), X),
              "wiener_cascade": (make_decoder("wiener_cascade"), X),
              "kalman": (make_decoder("kalman"), X[:, -1:, :])}
    if not QUICK:  # an LSTM regressor on the same windows (~20 s on one core)
        models["lstm"] = (make_decoder("lstm_regression", random_state=0), X)
    chewie_within = {}
    for name, (dec, Xm) in models.items():
        r = regression_scores(dec, Xm, Y, gap=X.shape[1], n_boot=N_BOOT,
                              channels=["x", "y"], random_state=0)
        chewie_within[name] = r
        lo, hi = r["r2_vw_ci"]
        print(f"{name:15} R2 x {r['r2']['x']:.3f}  y {r['r2']['y']:.3f}  "
              f"variance-weighted {r['r2_vw']:.3f} [{lo:.3f}, {hi:.3f}]")
    results["chewie_within_day"] = {k: summary(v) for k, v in chewie_within.items()}
    fig = plot_trace(Y, chewie_within["wiener"]["y_pred"], channels=["vel x", "vel y"],
                     title="chewie day tr: Wiener filter (out-of-fold)", max_samples=300)
    fig.savefig(OUT / "chewie_trace.png", dpi=110)
    fig = plot_r2(chewie_within, title="chewie velocity, within day tr")
    fig.savefig(OUT / "chewie_r2.png", dpi=110)

# %% [markdown]
# On day `tr` (variance-weighted R², 95 % CI of the full run's 2000 replicates): Wiener
# 0.587 [0.539, 0.620], Wiener cascade 0.622 [0.565, 0.664], Kalman 0.446 [0.315, 0.539],
# LSTM 0.545 [0.483, 0.597] (the bootstrap CIs of `--quick` use 200 replicates). `benchmarks/bench_continuous.py`
# runs `neural-decoding`'s Wiener, cascade and Kalman decoders on the same folds and the
# same lagged inputs: their R² equal ours to 1e-14 (least-squares versions of both).
#
# ## 2 · Across days
#
# DAD's setting: a decoder trained on day `tr` decodes day `te`. The 71 channels are the
# same electrodes on both days, so the first row needs no aligner; it is scored on the
# second half of day `te` and compared with the *fixed ceiling*, day `te`'s own
# within-day R² of the same model. `cross_day_matrix(..., metric="r2")` runs the same
# with an aligner in front (adapting day `te` on one half, scoring the other):
# `benchmarks/bench_continuous.py` and `docs/continuous.md` give the table.

# %%
if chewie is not None:
    Xte, Yte = windows["te"]
    half = len(Yte) // 2
    across = {}
    for name in ("wiener", "kalman"):
        dec = make_decoder(name)
        sl = slice(None) if name == "wiener" else slice(-1, None)
        if name == "wiener":
            dec.set_params(reg__gap=X.shape[1])
        pred = dec.fit(X[:, sl].reshape(len(X), -1), Y).predict(
            Xte[half:, sl].reshape(len(Xte) - half, -1))
        ceiling = regression_scores(make_decoder(name), Xte[:, sl], Yte, gap=X.shape[1],
                                    n_boot=N_BOOT, random_state=0)
        across[name] = {"r2_vw": r2_per_output(Yte[half:], pred)[1],
                        "ceiling_r2_vw": ceiling["r2_vw"]}
        print(f"{name:8} tr -> te (second half): R2 vw {across[name]['r2_vw']:.3f}   "
              f"fixed ceiling (te within-day): {ceiling['r2_vw']:.3f}")
    results["chewie_across_days"] = across

# %% [markdown]
# ## 3 · Position on the linear track
#
# The tracking file holds (x, y) camera pixels at 60 Hz; the file's header gives no
# pixel-to-cm scale (`pixel scale: 0 pix/cm`), so errors below are in **pixels**. The
# track runs diagonally through the frame; about half of the samples sit at the bottom
# edge of the frame (y < 40 px, off the track), which we mark as gaps (NaN): their bins
# are dropped and counted. `position_series` drops the one repeated timestamp of the
# file (and says so). Only bins where the animal moves (≥ 10 px/s) are decoded, as in
# the data README's figure.

# %%
from spikedecode.datasets.hippocampus import load_nelpy, position_series, speed

try:
    rec, pos = load_nelpy("linear-track")
except FileFormatError as err:
    rec = None
    print(f"skipping the linear track: {err}")

if rec is not None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)  # counted below
        xy = position_series(pos)
    v = xy.values.copy()
    off_track = v[:, 1] < 40
    v[off_track] = np.nan
    track = make_behavior(v, xy["time"].values, channels=["x", "y"], name="position",
                          units="px")
    binned = bin_spikes(rec, 0.25)
    sp = speed(track.rename(channel="coord"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataDroppedWarning)
        w = target_windows(binned, track, bins_before=2)  # 3 bins = 750 ms, causal
        moving_speed = bin_behavior(make_behavior(sp.values, sp["time"].values, name="speed"),
                                    binned)
    print("dropped:", *{str(c.message)[:90] for c in caught}, sep="\n  ")
    on_grid = np.interp(w["target_time"].values, moving_speed["time"].values,
                        moving_speed.values[:, 0])
    w = w.isel(sample=np.flatnonzero(on_grid >= 10))
    Xp, P, _ = to_sequences(w)
    x_pos = P[:, 0]
    print(f"{len(x_pos)} moving samples of 250 ms with history of 2 bins")

# %% [markdown]
# The Poisson decoder estimates each unit's place field (mean count per window, per
# position bin, occupancy-normalised and smoothed) on the training blocks and reports
# the most probable position given the counts (Zhang et al. 1998). It takes raw counts;
# with lagged windows we sum the counts of the window (a 750 ms count per unit).

# %%
if rec is not None:
    counts = Xp.sum(axis=1, keepdims=True)
    track_scores = {
        "poisson_bayes": regression_scores(make_decoder("poisson_bayes", prior="occupancy"),
                                           counts, x_pos, gap=3, n_boot=N_BOOT,
                                           random_state=0),
        "wiener": regression_scores(make_decoder("wiener"), Xp, x_pos, gap=3, n_boot=N_BOOT,
                                    random_state=0),
    }
    for name, r in track_scores.items():
        lo, hi = r["median_error_ci"]
        print(f"{name:14} R2 {r['r2_vw']:.3f} {tuple(round(c, 3) for c in r['r2_vw_ci'])}  "
              f"median error {r['median_error']:.1f} px [{lo:.1f}, {hi:.1f}]")
    results["linear_track_position"] = {k: summary(v) for k, v in track_scores.items()}
    fig = plot_trace(x_pos, track_scores["poisson_bayes"]["y_pred"], channels=["x"],
                     units="px", title="linear track: Poisson decoder (out-of-fold)",
                     max_samples=400)
    fig.savefig(OUT / "track_trace.png", dpi=110)

# %% [markdown]
# **The data README's figure**: the position *quintile* decodes at ≈ 0.59 against 0.20
# chance. The same windows, labelled with the quintile of their target bin, go to the
# logistic decoder of tutorial 01 (blocked folds through 10 s groups), and the Poisson
# decoder's decoded position is binned into the same quintiles.

# %%
if rec is not None:
    edges = np.quantile(x_pos, [0.2, 0.4, 0.6, 0.8])
    quintile = np.searchsorted(edges, x_pos).astype(str)
    groups = (w["target_time"].values // 10).astype(np.int64)
    clf = within_day_scores(make_decoder("logistic", lambdas=(1e-3, 1e-2, 1e-1)),
                            Xp.reshape(len(Xp), -1), quintile, groups, n_boot=N_BOOT,
                            random_state=0)
    bayes_q = np.searchsorted(edges, track_scores["poisson_bayes"]["y_pred"]).astype(str)
    results["linear_track_quintile"] = {
        "logistic_accuracy": clf["accuracy"], "logistic_accuracy_ci": clf["accuracy_ci"],
        "poisson_bayes_accuracy": float((bayes_q == quintile).mean()), "chance": 0.2}
    print(f"quintile accuracy: logistic {clf['accuracy']:.3f} {clf['accuracy_ci']}, "
          f"Poisson decoder {results['linear_track_quintile']['poisson_bayes_accuracy']:.3f}"
          "  (README: ~0.59; chance 0.20)")

# %% [markdown]
# ## 4 · The W-maze: 2-D position
#
# 25 units over 72 minutes (run, rest, run, rest); the same steps with both coordinates as
# the target, and the Poisson decoder on a 20 × 20 grid. Chance here is the error of
# always answering the mean position.

# %%
try:
    rec_w, pos_w = load_nelpy("w-maze")
except FileFormatError as err:
    rec_w = None
    print(f"skipping the W-maze: {err}")

if rec_w is not None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        xy_w = position_series(pos_w)
        binned_w = bin_spikes(rec_w, 0.25)
        ww = target_windows(binned_w, xy_w, bins_before=2)
        sp_w = speed(xy_w.rename(channel="coord"))
        sp_wb = bin_behavior(make_behavior(sp_w.values, sp_w["time"].values, name="speed"),
                             binned_w)
    fast = np.interp(ww["target_time"].values, sp_wb["time"].values, sp_wb.values[:, 0]) >= 10
    ww = ww.isel(sample=np.flatnonzero(fast))
    Xw, Pw, _ = to_sequences(ww)
    rw = regression_scores(make_decoder("poisson_bayes", prior="occupancy", n_position_bins=20,
                                        smooth=1.5), Xw.sum(axis=1, keepdims=True), Pw, gap=3,
                           n_boot=N_BOOT, channels=["x", "y"], random_state=0)
    chance_err = float(np.median(np.linalg.norm(Pw - Pw.mean(0), axis=1)))
    results["w_maze_position"] = {**summary(rw), "chance_median_error": chance_err}
    lo, hi = rw["median_error_ci"]
    print(f"W-maze, {len(Pw)} moving bins: median 2-D error {rw['median_error']:.1f} px "
          f"[{lo:.1f}, {hi:.1f}] (mean-position answer: {chance_err:.1f} px); R2 x "
          f"{rw['r2']['x']:.3f}, y {rw['r2']['y']:.3f}")

# %% [markdown]
# ## 5 · The null: shuffled K-fold leaks
#
# Rotate the velocity in time by a random offset: its autocorrelation stays, its
# relation to the spikes is gone. A nearest-neighbour regressor scored by a *shuffled*
# K-fold still "decodes" it — the test bins' temporal neighbours sit in the training
# folds — while the blocked folds with a gap give R² ≤ 0.

# %%
if chewie is not None:
    from sklearn.neighbors import KNeighborsRegressor

    shifted = np.roll(Y, len(Y) // 3, axis=0)
    Xsmooth = X.reshape(len(X), -1)
    knn = KNeighborsRegressor(5)
    leaky = shuffled_kfold_score(knn, Xsmooth, shifted, random_state=0)
    honest = regression_scores(knn, X, shifted, n_boot=N_BOOT, random_state=0)
    results["null"] = {"shuffled_kfold_r2_vw": leaky, "blocked_r2_vw": honest["r2_vw"],
                       "blocked_r2_vw_ci": honest["r2_vw_ci"]}
    print(f"shifted velocity, 5-NN: shuffled K-fold R2 {leaky:.3f}; blocked with gap "
          f"{honest['r2_vw']:.3f} {tuple(round(c, 3) for c in honest['r2_vw_ci'])}")

# %%
results["elapsed_s"] = time.perf_counter() - T0
(OUT / "results.json").write_text(json.dumps(results, indent=2, default=float))
print(f"wrote {OUT / 'results.json'} in {results['elapsed_s']:.1f} s")
