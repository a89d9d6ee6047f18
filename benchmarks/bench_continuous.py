"""Benchmark: continuous decoding of hand velocity on chewie, side by side with neural-decoding.

Data: ``dad/chewie_demo.mat`` (monkey M1, centre-out reaching; two recording days ``tr``
and ``te``, 71 channels, 2-D hand velocity per bin). Lagged inputs from
:func:`spikedecode.preprocess.target_windows` (``--bins-before`` history bins plus the
target bin: causal), folds from :class:`spikedecode.preprocess.BlockedTimeSplit`
(``--splits`` contiguous blocks, gap = the window length). Both packages get **the same
folds and the same lagged inputs**:

* Wiener filter: :class:`~spikedecode.decoders.WienerFilterRegressor` with
  ``lambdas=(0.0,)`` (ordinary least squares) against ``neural-decoding``'s
  ``WienerFilterRegression`` (``sklearn.linear_model.LinearRegression``);
* Wiener cascade (degree 3): ``WienerCascadeRegressor(lambdas=(0.0,))`` against
  ``WienerCascadeRegression``;
* Kalman filter on the target bin's counts (Wu et al. 2003):
  :class:`~spikedecode.decoders.KalmanFilterRegressor` against ``KalmanFilterRegression``
  given the training-mean-centred data and, as its required initial state, the training
  mean (neural-decoding's ``predict`` reads the first row of ``y_test``; giving it the
  true first velocity would use the test target).

Printed per day and model: velocity R² (x, y, variance-weighted) of the pooled
out-of-fold predictions with 95 % block-bootstrap CIs, the largest absolute difference of
the two packages' predictions and R², and the fit+predict CPU time ratio ours / theirs
(best of ``--repeats``). Also the project's default Wiener filter (standardised, ridge λ
by blocked CV). Across days (``--across``): fit on day ``tr``, decode day ``te`` without
alignment (the 71 array channels are the same electrodes), against the fixed ceiling =
day ``te``'s within-day R².

neural-decoding's LSTM needs keras, which this environment lacks: it is not run.

Writes ``out/bench_continuous.json``.

Run: ``python benchmarks/bench_continuous.py [--quick] [--repeats 3] [--out out]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from spikedecode.datasets.dad import load_chewie
from spikedecode.decoders import (
    KalmanFilterRegressor,
    WienerCascadeRegressor,
    WienerFilterRegressor,
    make_decoder,
)
from spikedecode.evaluation.regression import block_bootstrap_ci, r2_per_output
from spikedecode.preprocess import BlockedTimeSplit, target_windows, to_sequences


def _peer() -> Any:
    """neural-decoding's decoders module (its import prints warnings: kept quiet)."""
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            from Neural_Decoding import decoders, metrics
        except ImportError:
            return None
    return decoders, metrics


def _cpu(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def _oof(make: Any, X: np.ndarray, Y: np.ndarray, splits: list) -> np.ndarray:
    pred = np.full(Y.shape, np.nan)
    for tr, te in splits:
        pred[te] = make(X[tr], Y[tr], X[te])
    return pred


def _ours(cls: Any, **params: Any) -> Any:
    def run(Xtr, Ytr, Xte):
        return cls(**params).fit(Xtr, Ytr).predict(Xte)
    return run


def _kalman_peer(nd: Any) -> Any:
    def run(Xtr, Ytr, Xte):
        mz, my = Xtr.mean(0), Ytr.mean(0)
        kf = nd.KalmanFilterRegression(C=1)
        kf.fit(Xtr - mz, Ytr - my)
        init = np.zeros((len(Xte), Ytr.shape[1]))  # first row = the training mean (centred)
        return np.asarray(kf.predict(Xte - mz, init)) + my
    return run


def _peer_model(nd: Any, name: str) -> Any:
    def run(Xtr, Ytr, Xte):
        m = (nd.WienerFilterRegression() if name == "wiener"
             else nd.WienerCascadeRegression(degree=3))
        m.fit(Xtr, Ytr)
        return np.asarray(m.predict(Xte))
    return run


def _scores(Y: np.ndarray, pred: np.ndarray, seed: int) -> dict[str, Any]:
    r2, vw = r2_per_output(Y, pred)
    ci = block_bootstrap_ci(Y, pred, block_size=10, n_boot=1000, random_state=seed)
    return {"r2_x": float(r2[0]), "r2_y": float(r2[1]), "r2_vw": vw,
            "r2_x_ci": [float(v) for v in ci["r2_ci"][0]],
            "r2_y_ci": [float(v) for v in ci["r2_ci"][1]],
            "r2_vw_ci": list(ci["r2_vw_ci"])}


def run_day(day: str, X3: np.ndarray, Y: np.ndarray, *, splits_n: int, repeats: int,
            peer: Any) -> list[dict[str, Any]]:
    gap = X3.shape[1]
    splits = list(BlockedTimeSplit(splits_n, gap=gap).split(X3))
    Xflat = X3.reshape(len(X3), -1).astype(np.float64)
    Xnow = X3[:, -1, :].astype(np.float64)  # the target bin's counts (Kalman)
    rows = []
    models = [
        ("wiener", Xflat, _ours(WienerFilterRegressor, lambdas=(0.0,)), "wiener"),
        ("wiener_cascade", Xflat, _ours(WienerCascadeRegressor, lambdas=(0.0,), degree=3),
         "cascade"),
        ("kalman", Xnow, _ours(KalmanFilterRegressor), "kalman"),
    ]
    for name, X, ours, pkind in models:
        t_ours, p_ours = _cpu(lambda X=X, ours=ours: _oof(ours, X, Y, splits), repeats)
        row: dict[str, Any] = {"day": day, "model": name, "n_samples": int(len(Y)),
                               "n_features": int(X.shape[1]), "ours_cpu_s": t_ours,
                               **_scores(Y, p_ours, 0)}
        if peer is not None:
            nd, metrics = peer
            fn = _kalman_peer(nd) if pkind == "kalman" else _peer_model(nd, name)
            t_peer, p_peer = _cpu(lambda X=X, fn=fn: _oof(fn, X, Y, splits), repeats)
            r2_peer = metrics.get_R2(Y, p_peer)
            row.update(peer_cpu_s=t_peer, cpu_ratio=t_ours / t_peer,
                       peer_r2_x=float(r2_peer[0]), peer_r2_y=float(r2_peer[1]),
                       max_abs_pred_diff=float(np.abs(p_ours - p_peer).max()),
                       max_abs_r2_diff=float(np.abs(np.r_[row["r2_x"], row["r2_y"]]
                                                       - r2_peer).max()))
        rows.append(row)
    # the project's default: standardised ridge with λ by blocked CV (gap = window)
    default = make_decoder("wiener", cv=splits_n)
    default.set_params(reg__gap=gap)

    def fit_default(Xtr, Ytr, Xte):
        from sklearn.base import clone

        return clone(default).fit(Xtr, Ytr).predict(Xte)

    t_def, p_def = _cpu(lambda: _oof(fit_default, Xflat, Y, splits), repeats)
    rows.append({"day": day, "model": "wiener (ridge, blocked-CV λ)", "n_samples": int(len(Y)),
                 "n_features": int(Xflat.shape[1]), "ours_cpu_s": t_def, **_scores(Y, p_def, 0)})
    return rows


def across_days(days: dict[str, tuple[np.ndarray, np.ndarray]], splits_n: int
                ) -> list[dict[str, Any]]:
    """Fit on day tr (all of it), decode day te; ceiling = te's within-day R²."""
    (X1, Y1), (X2, Y2) = days["tr"], days["te"]
    rows = []
    for name, make in (("wiener", lambda: make_decoder("wiener", cv=splits_n)),
                       ("kalman", lambda: make_decoder("kalman"))):
        sl = (slice(None), -1) if name == "kalman" else (slice(None),)
        A = X1[sl].reshape(len(X1), -1).astype(np.float64)
        B = X2[sl].reshape(len(X2), -1).astype(np.float64)
        est = make()
        if name == "wiener":
            est.set_params(reg__gap=X1.shape[1])
        pred = est.fit(A, Y1).predict(B)
        r2, vw = r2_per_output(Y2, pred)
        half = len(B) // 2
        rows.append({"model": name, "train": "tr", "test": "te", "aligner": "none",
                     "r2_x": float(r2[0]), "r2_y": float(r2[1]), "r2_vw": vw,
                     "r2_vw_second_half": r2_per_output(Y2[half:], pred[half:])[1]})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="day 'tr' only, one repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--bins-before", type=int, default=4)
    p.add_argument("--no-across", action="store_true")
    p.add_argument("--data", type=Path, default=None, help="chewie_demo.mat")
    p.add_argument("--out", type=Path, default=Path("out"))
    args = p.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    peer = _peer()
    if peer is None:
        print("neural-decoding is not installed (pip install neural-decoding): ours only")
    loaded = load_chewie(args.data)
    days: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for day, (binned, vel, _) in loaded.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X3, Y, _ = to_sequences(target_windows(binned, vel, bins_before=args.bins_before))
        days[day] = (X3, Y)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for day in (("tr",) if args.quick else ("tr", "te")):
        rows += run_day(day, *days[day], splits_n=args.splits, repeats=repeats, peer=peer)
    print(f"chewie velocity, {args.splits} blocked folds (gap = {args.bins_before + 1} bins), "
          f"bins_before={args.bins_before}; 95 % block-bootstrap CIs")
    head = (f"{'day':4} {'model':30} {'R2 x':>6} {'R2 y':>6} {'R2 vw':>6} {'vw CI':>15} "
            f"{'peer x':>7} {'peer y':>7} {'|dR2|':>8} {'cpu s':>7} {'ratio':>6}")
    print(head)
    for r in rows:
        ci = f"[{r['r2_vw_ci'][0]:.3f},{r['r2_vw_ci'][1]:.3f}]"
        peer_cols = (f"{r['peer_r2_x']:7.3f} {r['peer_r2_y']:7.3f} {r['max_abs_r2_diff']:8.1e}"
                     if "peer_r2_x" in r else f"{'-':>7} {'-':>7} {'-':>8}")
        ratio = f"{r['cpu_ratio']:6.2f}" if "cpu_ratio" in r else f"{'-':>6}"
        print(f"{r['day']:4} {r['model']:30} {r['r2_x']:6.3f} {r['r2_y']:6.3f} "
              f"{r['r2_vw']:6.3f} {ci:>15} {peer_cols} {r['ours_cpu_s']:7.3f} {ratio}")
    across = [] if (args.quick or args.no_across) else across_days(days, args.splits)
    if across:
        same = {"wiener": "wiener (ridge, blocked-CV λ)", "kalman": "kalman"}
        ceiling = {m: r["r2_vw"] for r in rows if r["day"] == "te"
                   for m, row_name in same.items() if r["model"] == row_name}
        print("\nacross days: fit on all of day tr, decode day te (no alignment; same channels)")
        for r in across:
            print(f"{r['model']:8} R2 x {r['r2_x']:.3f}  y {r['r2_y']:.3f}  vw {r['r2_vw']:.3f}"
                  f"  (fixed ceiling: te within-day vw of the same model "
                  f"{ceiling.get(r['model'], float('nan')):.3f})")
    wall = time.perf_counter() - t0
    print(f"\nwall {wall:.1f} s on {platform.processor() or platform.machine()} "
          "(2 shared cores; timings under the load of other jobs)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_continuous.json").write_text(json.dumps(
        {"rows": rows, "across": across, "args": {k: str(v) for k, v in vars(args).items()},
         "wall_s": wall}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
