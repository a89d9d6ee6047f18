"""How often the linear λ search ends on an edge of the grid, on real sessions.

Steinmetz sessions (``../shared/data/steinmetz``): whole-window counts (trials x neurons),
target ``contrast_left > contrast_right`` on the trials where they differ, 5-fold
stratified CV of ``make_decoder("logistic")`` with ``extend_decades=0`` (the seed grid
only) and ``3`` (the default). Prints per session the test accuracy, the chosen log10 λ
per fold, the fits left on an edge and the time.

Run: ``python benchmarks/bench_lambda_edge.py``.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from sklearn.model_selection import StratifiedKFold

from spikedecode.decoders import make_decoder
from spikedecode.errors import GridEdgeWarning

DATA = Path(os.environ.get("SPIKEDECODE_SHARED_DATA", Path(__file__).parents[1] / ".." / "shared"
                           / "data"))


def main() -> None:
    for sess in range(1, 8):
        d = np.load(DATA / "steinmetz" / f"session{sess}.npz", allow_pickle=True)
        cl, cr = d["contrast_left"], d["contrast_right"]
        keep = cl != cr
        X = d["spks"][keep].sum(-1).astype(float)
        y = (cl > cr)[keep].astype(int)
        row = [f"session {sess} ({len(y)} trials, {X.shape[1]} neurons)"]
        for ext in (0, 3):
            accs, lams, edge, t = [], [], 0, time.perf_counter()
            for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", GridEdgeWarning)
                    pipe = make_decoder("logistic", random_state=0, extend_decades=ext)
                    pipe.fit(X[tr], y[tr])
                lams.append(round(float(np.log10(pipe[-1].lambda_)), 2))
                edge += pipe[-1].lambda_on_edge_
                accs.append(pipe.score(X[te], y[te]))
            row.append(f"extend_decades={ext}: accuracy {np.mean(accs):.3f}, log10 λ {lams}, "
                       f"on an edge {edge}/5, {time.perf_counter() - t:.1f} s")
        print("\n  ".join(row), flush=True)


if __name__ == "__main__":
    main()
