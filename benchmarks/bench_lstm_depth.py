"""LSTMDecoder depth on real data: 1 layer vs the seed study's 3 layers / dropout 0.2.

* ``mnist``: sequential MNIST from ``../shared/data/mnist`` (rows of a digit are the 28
  time steps, 28 features, 10 classes); train on the first 5,000 training images, stop
  early on validation accuracy over the next 1,000 (``fit(X_val=, y_val=)``), test on the
  first 2,000 test images; ``max_epochs`` (default 10) for both networks.
* ``steinmetz``: trials x neurons x 40 bins of 10 ms (``../shared/data/steinmetz``),
  rebinned to 8 steps of 50 ms, target the sign of ``contrast_left - contrast_right``
  (3 classes); stratified 75/25 split, early stopping on 15 % of the training trials.

Run: ``python benchmarks/bench_lstm_depth.py mnist [max_epochs]`` or
``python benchmarks/bench_lstm_depth.py steinmetz [session ...]``. Seeds 0 and 1; prints
test accuracy and fit time (wall clock, single thread) per network.
"""

from __future__ import annotations

import gzip
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

torch.set_num_threads(1)

from sklearn.model_selection import train_test_split

from spikedecode.decoders import LSTMDecoder

DATA = Path(os.environ.get("SPIKEDECODE_SHARED_DATA", Path(__file__).parents[1] / ".." / "shared"
                           / "data"))
NETS = [("1 layer", dict(num_layers=1, dropout=0.0)),
        ("3 layers, dropout 0.2 (seed study)", dict(num_layers=3, dropout=0.2))]


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path) as f:
        data = f.read()
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def mnist(max_epochs: int = 10) -> None:
    d = DATA / "mnist"
    X = _idx(d / "train-images-idx3-ubyte.gz").astype(np.float32)
    y = _idx(d / "train-labels-idx1-ubyte.gz")
    Xte = _idx(d / "t10k-images-idx3-ubyte.gz")[:2000].astype(np.float32)
    yte = _idx(d / "t10k-labels-idx1-ubyte.gz")[:2000]
    for name, kw in NETS:
        for seed in (0, 1):
            t = time.perf_counter()
            clf = LSTMDecoder(hidden_size=64, max_epochs=max_epochs, patience=3, lr=3e-3,
                              early_stopping_metric="accuracy", device="cpu",
                              random_state=seed, **kw)
            clf.fit(X[:5000], y[:5000], X_val=X[5000:6000], y_val=y[5000:6000])
            print(f"{name:36s} seed {seed}: test accuracy {clf.score(Xte, yte):.3f}  "
                  f"epochs {clf.n_epochs_}  fit {time.perf_counter() - t:.1f} s", flush=True)


def steinmetz(sessions: list[str]) -> None:
    for sess in sessions:
        d = np.load(DATA / "steinmetz" / f"session{sess}.npz", allow_pickle=True)
        spks = d["spks"].astype(np.float32)  # trial, neuron, 40 bins
        X = spks.reshape(spks.shape[0], spks.shape[1], 8, 5).sum(-1).transpose(0, 2, 1)
        y = np.sign(d["contrast_left"] - d["contrast_right"]).astype(int)
        print(f"session {sess}: {X.shape[0]} trials, {X.shape[2]} neurons", flush=True)
        for name, kw in NETS:
            accs, times = [], []
            for seed in (0, 1):
                tr, te = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y,
                                          random_state=seed)
                t = time.perf_counter()
                clf = LSTMDecoder(hidden_size=64, max_epochs=60, patience=8, lr=3e-3,
                                  batch_size=32, validation_fraction=0.15,
                                  early_stopping_metric="accuracy", device="cpu",
                                  random_state=seed, **kw).fit(X[tr], y[tr])
                times.append(time.perf_counter() - t)
                accs.append(clf.score(X[te], y[te]))
            print(f"  {name:36s} test accuracy {np.round(accs, 3).tolist()}  "
                  f"fit {np.round(times, 1).tolist()} s", flush=True)


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "mnist"
    if which == "mnist":
        mnist(int(sys.argv[2]) if len(sys.argv) > 2 else 10)
    else:
        steinmetz(sys.argv[2:] or ["1", "3"])
