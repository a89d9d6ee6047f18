"""Benchmark ``within_day_scores`` against scikit-learn's nested ``GridSearchCV``.

Side by side on the same data and the same folds:

* ours: ``within_day_scores(make_decoder("logistic"), X, y, groups, n_boot=1000)`` —
  grouped outer CV, the grouped λ search inside each training fold, then cluster-bootstrap
  CIs of accuracy and balanced accuracy (the CIs are included in our time);
* peer: for each of the same outer folds, ``GridSearchCV(StandardScaler ->
  LogisticRegression, C over the same λ grid, cv=the same inner group folds)``, fit and
  predict (no CIs).

Target (issue 12): ours costs <= 1.0x the peer's CPU time. Times are CPU seconds of this
single-threaded process (``time.process_time``; wall time is printed too), so other jobs
on a shared machine distort them little.

Data (real, read from ``../shared/data`` or ``$SPIKEDECODE_SHARED_DATA``):

* ``steinmetz``: session 1 of Steinmetz et al. 2019; X = whole-window (0-400 ms) spike
  counts per trial and neuron, y = ``contrast_left > contrast_right`` on trials where the
  contrasts differ, groups = trial;
* ``nwb``: the DANDI 000207 human MTL session, 5 ms bins, non-overlapping windows of 5
  bins (the ``decode`` defaults), "stimulus vs latent" labels, groups = trial/epoch.
  Both sides score ~0.15 balanced accuracy here, below the 0.5 chance level: the
  unlabelled time falls mostly into one group (75,279 of the 83,795 latent windows), so
  the class mix of a training fold is the opposite of its test fold's. That is about the grouping of the
  latent time (issue 12, another part), not about either implementation; the times
  are what this benchmark compares.

Run: ``python benchmarks/bench_within_day.py [--parts steinmetz,nwb]``; writes
``out/bench_within_day.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from spikedecode._random import draw_seed
from spikedecode.decoders import DEFAULT_LAMBDAS, make_decoder
from spikedecode.evaluation import within_day_scores
from spikedecode.preprocess.resample import group_splits


def _shared() -> Path:
    return Path(os.environ.get("SPIKEDECODE_SHARED_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data"))


def steinmetz(session: int = 1):
    d = np.load(_shared() / "steinmetz" / f"session{session}.npz", allow_pickle=False)
    cl, cr = d["contrast_left"].astype(float), d["contrast_right"].astype(float)
    keep = cl != cr
    X = d["spks"][keep].sum(-1).astype(np.float64)  # trials x neurons, 0-400 ms counts
    y = (cl[keep] > cr[keep]).astype(int)
    return X, y, np.arange(len(y))


def nwb():
    from spikedecode.io import read
    from spikedecode.preprocess import make_windows, to_xy

    rec = read(_shared() / "nwb" / "sub-4_ses-4_ecephys+image.nwb")
    w = make_windows(rec, bin_size=0.005, n_bins=5, step=5, rule="binary")
    X, y, g = to_xy(w)
    return np.asarray(X, np.float64), np.asarray(y), np.asarray(g)


def ours(X, y, g, seed: int, n_boot: int) -> dict:
    c0, w0 = time.process_time(), time.perf_counter()
    r = within_day_scores(make_decoder("logistic"), X, y, g, n_boot=n_boot, random_state=seed)
    return {"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0,
            "balanced_accuracy": r["balanced_accuracy"],
            "balanced_accuracy_ci": r["balanced_accuracy_ci"]}


def peer(X, y, g, seed: int) -> dict:
    """Nested GridSearchCV on the folds within_day_scores uses (outer and inner)."""
    c0, w0 = time.process_time(), time.perf_counter()
    s = draw_seed(seed)  # as cross_val_predictions derives its fold seed
    pred = np.empty_like(y)
    for k, (tr, te) in enumerate(group_splits(y, g, 5, s)):
        # the inner folds our decoder draws (its random_state is seed + k)
        inner = group_splits(y[tr], g[tr], 5, s + k)
        Cs = 1.0 / (len(tr) * DEFAULT_LAMBDAS)  # same λ grid, λ = 1 / (n C)
        pipe = Pipeline([("scale", StandardScaler()),
                         ("clf", LogisticRegression(max_iter=100, tol=1e-4))])
        gs = GridSearchCV(pipe, {"clf__C": Cs}, cv=inner, scoring="accuracy", n_jobs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gs.fit(X[tr], y[tr])
        pred[te] = gs.predict(X[te])
    return {"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0,
            "balanced_accuracy": float(balanced_accuracy_score(y, pred))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="steinmetz,nwb", help="subset of: steinmetz, nwb")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/bench_within_day.json")
    args = ap.parse_args()
    loaders = {"steinmetz": steinmetz, "nwb": nwb}
    report = {}
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        X, y, g = loaders[part]()
        a = ours(X, y, g, args.seed, args.n_boot)
        b = peer(X, y, g, args.seed)
        ratio = a["cpu_s"] / b["cpu_s"]
        report[part] = {"n_samples": int(len(y)), "n_features": int(X.shape[1]),
                        "n_groups": int(len(np.unique(g))), "ours": a, "gridsearchcv": b,
                        "cpu_ratio": ratio}
        print(f"{part}: {len(y)} samples x {X.shape[1]} features, {len(np.unique(g))} groups")
        print(f"  within_day_scores (+{args.n_boot} bootstrap): {a['cpu_s']:.2f} s CPU, "
              f"{a['wall_s']:.2f} s wall, balanced acc {a['balanced_accuracy']:.3f} "
              f"[{a['balanced_accuracy_ci'][0]:.3f}, {a['balanced_accuracy_ci'][1]:.3f}]")
        print(f"  nested GridSearchCV:                 {b['cpu_s']:.2f} s CPU, "
              f"{b['wall_s']:.2f} s wall, balanced acc {b['balanced_accuracy']:.3f}")
        print(f"  CPU ratio ours / GridSearchCV: {ratio:.2f} (target <= 1.0)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
