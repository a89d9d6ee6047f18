"""Benchmark the decoders against their peers, side by side in one run.

1. The grouped λ search of ``make_decoder("logistic")`` (``GroupCVLinearClassifier``)
   vs scikit-learn's ``LogisticRegressionCV`` on the same standardized data, the same
   folds (grouped by trial) and the same C grid. Target: time ratio <= 1.0.
2. ``LSTMDecoder.fit`` throughput (samples/s) vs a minimal hand-written torch loop on the
   same module, data, batch size and optimizer. Target: overhead <= 10%.

Times are CPU seconds of this (single-threaded) process, so that other jobs on a shared
machine do not distort the ratios. Run: ``python benchmarks/bench_decoders.py [--quick]``;
writes out/bench_decoders.json.
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
import torch

torch.set_num_threads(1)

from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.preprocessing import StandardScaler

from spikedecode.datasets import simulate_touch_experiment
from spikedecode.decoders import DEFAULT_LAMBDAS, GroupCVLinearClassifier, LSTMDecoder
from spikedecode.decoders._nets import LSTMNet
from spikedecode.preprocess import make_windows, to_sequences
from spikedecode.preprocess.resample import group_splits


def _clock() -> float:
    """CPU time of this process: robust to other jobs sharing the machine (all the work
    here is single-threaded, torch.set_num_threads(1) and OMP_NUM_THREADS=1)."""
    return time.process_time()


def data(quick: bool):
    exp = simulate_touch_experiment(n_days=1, n_repeats=2 if quick else 4, n_strokes=10,
                                    n_puffs=5, n_units_range=(40, 40), random_state=0)
    w = make_windows(exp[0], bin_size=0.005, n_bins=5, step=5, rule="multiclass",
                     stimulus_labels=["touch/LUM", "touch/LBR"])
    return to_sequences(w)


def bench_lambda(X, y, g, repeats: int) -> dict:
    Xs = StandardScaler().fit_transform(X.reshape(len(X), -1)).astype(np.float64)
    splits = group_splits(y, g, 5, random_state=0)
    Cs = 1.0 / (len(y) * DEFAULT_LAMBDAS[::-1])
    ours, peer = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)  # sklearn 1.9 LogisticRegressionCV notes
        for _ in range(repeats):
            t = _clock()
            a = GroupCVLinearClassifier(cv=splits).fit(Xs, y)
            ours.append(_clock() - t)
            t = _clock()
            b = LogisticRegressionCV(Cs=Cs, cv=splits, scoring="accuracy", max_iter=100,
                                     tol=1e-4).fit(Xs, y)
            peer.append(_clock() - t)
        c = GroupCVLinearClassifier(cv=splits, path_patience=None).fit(Xs, y)
    return {
        "n_samples": int(len(y)), "n_features": int(Xs.shape[1]), "n_lambdas": len(Cs),
        "ours_s": min(ours), "logregcv_s": min(peer), "ratio": min(ours) / min(peer),
        "target_ratio": 1.0,
        "ours_lambda": a.lambda_, "logregcv_lambda": float(1.0 / (len(y) * b.C_[0])),
        "ours_full_path_lambda": c.lambda_,
        "ours_train_acc": float(a.score(Xs, y)), "logregcv_train_acc": float(b.score(Xs, y)),
        "n_lambdas_walked": int(np.isfinite(a.cv_scores_).any(0).sum()),
    }


def hand_loop(X, y_idx, n_classes, epochs, batch_size, lr, seed):
    torch.manual_seed(seed)
    net = LSTMNet(X.shape[2], n_classes, hidden_size=32, num_layers=3, dropout=0.2)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x, y = torch.from_numpy(X), torch.from_numpy(y_idx)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
    return net


def bench_lstm(X, y, epochs: int, repeats: int) -> dict:
    classes, y_idx = np.unique(y, return_inverse=True)
    y_idx = y_idx.astype(np.int64)
    ours, peer = [], []
    for r in range(repeats):
        t = _clock()
        hand_loop(X, y_idx, len(classes), epochs, 128, 3e-3, r)
        peer.append(_clock() - t)
        t = _clock()
        LSTMDecoder(hidden_size=32, num_layers=3, dropout=0.2, max_epochs=epochs, lr=3e-3,
                    batch_size=128, validation_fraction=0.0, patience=None, device="cpu",
                    random_state=r).fit(X, y)
        ours.append(_clock() - t)
    n = len(y) * epochs
    return {"n_samples": int(len(y)), "epochs": epochs, "input_shape": list(X.shape[1:]),
            "ours_samples_per_s": n / min(ours), "hand_samples_per_s": n / min(peer),
            "overhead": min(ours) / min(peer) - 1.0, "target_overhead": 0.10}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="out/bench_decoders.json")
    ap.add_argument("--parts", default="lambda,lstm", help="subset of: lambda, lstm")
    args = ap.parse_args()
    X, y, g = data(args.quick)
    res = {}
    parts = set(args.parts.split(","))
    if "lambda" in parts:
        res["lambda_search"] = bench_lambda(X, y, g, 1 if args.quick else 3)
        ls = res["lambda_search"]
        print(f"lambda search: {ls['n_samples']} x {ls['n_features']}, {ls['n_lambdas']} "
              f"lambdas, 5 grouped folds | ours {ls['ours_s']:.2f} s (walked "
              f"{ls['n_lambdas_walked']}) vs "
              f"LogisticRegressionCV {ls['logregcv_s']:.2f} s -> ratio {ls['ratio']:.2f} "
              f"(target <= 1.0) | lambda {ls['ours_lambda']:.2g} vs "
              f"{ls['logregcv_lambda']:.2g}")
    if "lstm" in parts:
        res["lstm_fit"] = bench_lstm(X, y, 2 if args.quick else 5, 1 if args.quick else 2)
        lf = res["lstm_fit"]
        print(f"LSTMDecoder.fit: {lf['ours_samples_per_s']:.0f} samples/s vs hand-written "
              f"loop {lf['hand_samples_per_s']:.0f} samples/s -> overhead "
              f"{100 * lf['overhead']:.1f}% (target <= 10%)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
