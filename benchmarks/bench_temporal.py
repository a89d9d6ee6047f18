"""Benchmark time-resolved decoding against MNE-Python, and the NWB image-vs-baseline figure.

Side by side on the same data and the *same* folds (:func:`group_splits`, grouped and
stratified, drawn once):

* ``sliding``: ours, :class:`spikedecode.decoders.SlidingEstimator`; peer,
  ``mne.decoding.SlidingEstimator`` (``n_jobs=None``); both wrap the same scikit-learn
  pipeline ``StandardScaler -> LogisticRegression(C=1)``, fitted per fold and per lag;
  scored by balanced accuracy of the out-of-fold predictions at every lag;
* ``generalizing``: ours :class:`~spikedecode.decoders.GeneralizingEstimator` vs
  ``mne.decoding.GeneralizingEstimator``, the train x test matrix.

Printed: the largest absolute score difference (equal settings: expect 0 up to the
solver's tolerance) and the CPU-time ratio ours / MNE (target <= 1.0). Times are CPU
seconds of this single-threaded process (``time.process_time``), the fastest of
``--repeat`` interleaved runs of each, so other jobs on a shared machine distort them
little; MNE's input is transposed to its (sample, feature, time) layout outside the
timed region. Both sides spend nearly all their time in the same scikit-learn fits, so
the ratio measures the wrappers' overhead and stays close to 1.

Data (real, from ``../shared/data`` or ``$SPIKEDECODE_SHARED_DATA``):

* ``steinmetz``: session 1 of Steinmetz et al. 2019, left vs right (trials whose
  contrasts differ), 0-400 ms after the stimulus in 8 lags of 50 ms;
* ``nwb``: the DANDI 000207 human MTL session, ``recognition_table``, image vs its own
  pre-image baseline, -0.5 to 1.5 s in 8 lags of 250 ms.

The ``independent`` part reproduces the issue's independent analysis (pynwb +
scikit-learn only: spike counts 0.2-1.2 s after each image onset vs the 1 s before it,
log1p, standardised logistic regression, stratified 5-fold) and checks that
``spikedecode decode --align``'s API path (``event_windows`` + ``within_day_scores``
with 10 CV repeats) lands inside spikedecode's CI and close to it.

Run: ``python benchmarks/bench_temporal.py [--quick] [--parts steinmetz,nwb,independent]``;
writes ``out/bench_temporal.json``.
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
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

NWB = "nwb/sub-4_ses-4_ecephys+image.nwb"


def _shared() -> Path:
    return Path(os.environ.get("SPIKEDECODE_SHARED_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data"))


def _pipe() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


def load(part: str, quick: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(X (sample, lag, unit) float64, y, groups)`` of one data set, or None if absent."""
    from spikedecode.preprocess import to_sequences

    root = _shared()
    if part == "steinmetz":
        path = root / "steinmetz" / "session1.npz"
        if not path.exists():
            return None
        from spikedecode.datasets import read_steinmetz_npz

        w = read_steinmetz_npz(path, drop_equal=True, pool=10 if quick else 5)
    else:
        path = root / NWB
        if not path.exists():
            return None
        from spikedecode.io import read, read_interval_table
        from spikedecode.preprocess import event_windows

        w = event_windows(read(path), read_interval_table(path, "recognition_table"),
                          window=(-0.5, 1.5), baseline=(-2.5, -0.5),
                          bin_size=0.5 if quick else 0.25)
    X, y, g = to_sequences(w)
    return np.log1p(X).astype(np.float64), np.asarray(y), np.asarray(g)


def _oof(make: object, X: np.ndarray, y: np.ndarray, splits: list, generalize: bool,
         n_lags: int) -> tuple[np.ndarray, float]:
    """Out-of-fold predictions of ``make(estimator)`` and its CPU seconds."""
    n = X.shape[0]
    pred = np.empty((n, n_lags, n_lags) if generalize else (n, n_lags), dtype=y.dtype)
    t = time.process_time()
    for tr, te in splits:
        est = make(_pipe())  # type: ignore[operator]
        est.fit(X[tr], y[tr])
        pred[te] = est.predict(X[te])
    return pred, time.process_time() - t


def compare(X: np.ndarray, y: np.ndarray, g: np.ndarray, seed: int = 0, repeat: int = 3
            ) -> dict:
    """Scores and CPU times of ours vs MNE's sliding and generalizing estimators."""
    import mne
    from mne.decoding import GeneralizingEstimator as MneGen
    from mne.decoding import SlidingEstimator as MneSliding

    from spikedecode.decoders import GeneralizingEstimator, SlidingEstimator
    from spikedecode.preprocess.resample import group_splits

    mne.set_log_level("ERROR")
    splits = group_splits(y, g, 5, seed)
    X_mne = np.ascontiguousarray(X.transpose(0, 2, 1))  # MNE: (sample, feature, time)
    out = {}
    for name, ours, theirs, gen in (("sliding", SlidingEstimator, MneSliding, False),
                                    ("generalizing", GeneralizingEstimator, MneGen, True)):
        t_ours, t_mne = np.inf, np.inf
        for _ in range(repeat):  # interleaved; the fastest of each (least disturbed)
            p_ours, t = _oof(lambda e, c=ours: c(e), X, y, splits, gen, X.shape[1])
            t_ours = min(t_ours, t)
            p_mne, t = _oof(lambda e, c=theirs: c(e), X_mne, y, splits, gen, X.shape[1])
            t_mne = min(t_mne, t)
        flat_o = p_ours.reshape(len(y), -1)
        flat_m = p_mne.reshape(len(y), -1)
        s_o = np.array([balanced_accuracy_score(y, flat_o[:, j]) for j in range(flat_o.shape[1])])
        s_m = np.array([balanced_accuracy_score(y, flat_m[:, j]) for j in range(flat_m.shape[1])])
        out[name] = {"max_score_diff": float(np.max(np.abs(s_o - s_m))),
                     "prediction_agreement": float(np.mean(flat_o == flat_m)),
                     "peak_score": float(s_o.max()),
                     "cpu_ours_s": t_ours, "cpu_mne_s": t_mne,
                     "cpu_ratio": t_ours / t_mne if t_mne > 0 else float("nan")}
    return out


def independent(quick: bool) -> dict | None:
    """The issue's pynwb + scikit-learn image-vs-baseline analysis vs spikedecode's path."""
    path = _shared() / NWB
    if not path.exists():
        return None
    import pynwb
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
            nwb = io.read()
            onsets = np.asarray(nwb.intervals["recognition_table"]["start_time"].data[:])
            trains = [np.asarray(nwb.units.get_unit_spike_times(i))
                      for i in range(len(nwb.units))]
    def counts(a: float, b: float) -> np.ndarray:
        return np.array([[np.sum((st >= o + a) & (st < o + b)) for st in trains]
                         for o in onsets], dtype=float)
    X = np.log1p(np.vstack([counts(0.2, 1.2), counts(-1.0, 0.0)]))
    y = np.r_[np.ones(len(onsets)), np.zeros(len(onsets))]
    pred = cross_val_predict(_pipe(), X, y, cv=StratifiedKFold(5, shuffle=True,
                                                               random_state=0))
    indep = float(balanced_accuracy_score(y, pred))

    from spikedecode._cli.events import event_decoder
    from spikedecode.evaluation import within_day_scores
    from spikedecode.io import read, read_interval_table
    from spikedecode.preprocess import event_windows, to_xy

    t = time.perf_counter()
    w = event_windows(read(path), read_interval_table(path, "recognition_table"),
                      window=(0.2, 1.2), baseline=(-1.0, 0.0))
    Xs, ys, gs = to_xy(w)
    r = within_day_scores(event_decoder("logistic"), np.log1p(Xs), ys, gs,
                          n_repeats=3 if quick else "auto", n_permutations=0, random_state=0)
    lo, hi = r["balanced_accuracy_ci"]
    return {"independent": indep, "spikedecode": r["balanced_accuracy"], "ci": [lo, hi],
            "independent_in_ci": bool(lo <= indep <= hi), "n_repeats": r["n_repeats"],
            "wall_s": time.perf_counter() - t}


def main() -> None:
    """Run the comparison and print one line per data set and estimator."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer lags (a smoke test)")
    ap.add_argument("--parts", default="steinmetz,nwb,independent")
    ap.add_argument("--out", default="out/bench_temporal.json")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each side")
    args = ap.parse_args()
    results: dict = {"quick": args.quick}
    for part in args.parts.split(","):
        if part == "independent":
            r = independent(args.quick)
            if r is None:
                print("independent: skipped (shared data absent)")
                continue
            results[part] = r
            print(f"independent analysis (pynwb + sklearn) {r['independent']:.3f}; spikedecode "
                  f"{r['spikedecode']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] "
                  f"({r['n_repeats']} repeats) -> inside CI: {r['independent_in_ci']}")
            continue
        try:
            import mne  # noqa: F401
        except ImportError:
            print(f"{part}: skipped, MNE-Python is not installed (pip install -e '.[bench]')")
            continue
        data = load(part, args.quick)
        if data is None:
            print(f"{part}: skipped (shared data absent)")
            continue
        X, y, g = data
        res = compare(X, y, g, repeat=args.repeat)
        results[part] = {"shape": list(X.shape), **res}
        for name, r in res.items():
            print(f"{part:9s} {name:12s} X{tuple(X.shape)}: max |score diff| "
                  f"{r['max_score_diff']:.2e}, predictions equal {r['prediction_agreement']:.4f}, "
                  f"CPU ours {r['cpu_ours_s']:.2f}s / MNE {r['cpu_mne_s']:.2f}s = "
                  f"{r['cpu_ratio']:.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
