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
by blocked CV) and our LSTM regressor (one layer of 32, early stopping on the last 10 % of
each training fold) with and without its input standardisation (not with ``--quick``). Across days (not with ``--quick``): DAD's setting through
``cross_day_matrix(metric="r2")`` — train on one day, adapt the other day on one half of
its bins and score the other half (swapped, pooled) — without an aligner (the 71 array
channels are the same electrodes) and with each of ``--aligners`` (labelled ones match
the reach target; label-free ones see neither target nor velocity of the adapted day),
against the fixed ceiling = the adapted day's within-day R² (the matrix diagonal).

Linear track (``nelpy/linear-track``): our Poisson place-field decoder against pynapple's
``compute_tuning_curves`` + ``decode_bayes`` with the same position bins, uniform prior
and no smoothing, on the same blocked folds: decoded positions compared bin by bin.

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
            peer: Any, lstm: bool = False) -> list[dict[str, Any]]:
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
    if lstm:  # neural-decoding's LSTMRegression needs keras (absent): ours only, one run
        for std in (True, False):
            def fit_lstm(Xtr, Ytr, Xte, std=std):
                return make_decoder("lstm_regression", standardize=std,
                                    random_state=0).fit(Xtr, Ytr).predict(Xte)

            t_l, p_l = _cpu(lambda f=fit_lstm: _oof(f, X3.astype(np.float32), Y, splits), 1)
            rows.append({"day": day, "model": f"lstm (standardize={std})",
                         "n_samples": int(len(Y)), "n_features": int(Xflat.shape[1]),
                         "ours_cpu_s": t_l, **_scores(Y, p_l, 0)})
    return rows


def across_days(days: dict[str, tuple[np.ndarray, np.ndarray]], targets: dict[str, Any],
                aligners: list[str], n_components: int, seed: int = 0) -> list[dict[str, Any]]:
    """DAD's setting through ``cross_day_matrix(metric="r2")``: train on one day, adapt the
    other on one half of its bins and score the other half (then swap, pooled); the fixed
    ceiling is the test day's within-day R² (the diagonal). Wiener and Kalman filters."""
    from spikedecode.align import get_aligner
    from spikedecode.evaluation import cross_day_matrix

    rows = []
    for model, name in [(m, a) for m in ("wiener", "kalman") for a in aligners]:
        # the Wiener filter reads the lagged windows, the Kalman filter the target bin
        data = {d: (X3 if model == "wiener" else X3[:, -1:, :], Y, np.arange(len(Y)))
                for d, (X3, Y) in days.items()}
        al = None if name == "none" else get_aligner(name, n_components=n_components,
                                                     random_state=seed)
        labelled = al is not None and getattr(al, "uses_labels", True)
        t0 = time.perf_counter()
        m = cross_day_matrix(data, make_decoder(model), aligner=al, metric="r2",
                             conditions=targets if labelled else None, scheduler="sync",
                             random_state=seed)
        rows.append({"model": model, "aligner": name, "labelled": bool(labelled),
                     "tr_to_te": float(m.sel(train_day="tr", test_day="te")),
                     "te_to_tr": float(m.sel(train_day="te", test_day="tr")),
                     "ceiling_te": float(m.sel(train_day="te", test_day="te")),
                     "ceiling_tr": float(m.sel(train_day="tr", test_day="tr")),
                     "wall_s": time.perf_counter() - t0})
    return rows


def linear_track_positions(bins_before: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """Counts (sample, lag, unit) and x position (px) of the moving, on-track 250 ms bins."""
    from spikedecode.datasets.hippocampus import load_nelpy, position_series, speed
    from spikedecode.errors import FileFormatError
    from spikedecode.preprocess import bin_behavior, bin_spikes, make_behavior

    try:
        rec, pos = load_nelpy("linear-track")
    except FileFormatError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xy = position_series(pos)
        v = xy.values.copy()
        v[v[:, 1] < 40] = np.nan  # the bottom edge of the frame: off the track
        track = make_behavior(v, xy["time"].values, channels=["x", "y"], name="position")
        binned = bin_spikes(rec, 0.25)
        w = target_windows(binned, track, bins_before=bins_before)
        sp = speed(track.rename(channel="coord"))
        spb = bin_behavior(make_behavior(sp.values, sp["time"].values, name="speed"), binned)
    moving = np.interp(w["target_time"].values, spb["time"].values, spb.values[:, 0]) >= 10
    X3, P, _ = to_sequences(w.isel(sample=np.flatnonzero(moving)))
    return X3, P[:, 0]


def bayes_vs_pynapple(repeats: int, n_bins: int = 40, splits_n: int = 5) -> dict[str, Any]:
    """Our Poisson decoder against pynapple's decode_bayes: same tuning curves and prior
    (uniform, no smoothing), same folds; decoded positions compared bin by bin."""
    data = linear_track_positions()
    if data is None:
        return {}
    X3, x = data
    X = X3[:, -1, :].astype(np.float64)
    splits = list(BlockedTimeSplit(splits_n, gap=1).split(X))
    from spikedecode.decoders import PoissonBayesRegressor

    def ours(Xtr, ytr, Xte):
        return PoissonBayesRegressor(n_position_bins=n_bins, smooth=0.0,
                                     min_rate=1e-12).fit(Xtr, ytr).predict(Xte)

    t_ours, p_ours = _cpu(lambda: _oof(ours, X, x, splits), repeats)
    r2, _ = r2_per_output(x, p_ours)
    out: dict[str, Any] = {"n_samples": int(len(x)), "n_position_bins": n_bins,
                           "ours_cpu_s": t_ours, "r2": float(r2[0]),
                           "median_error_px": float(np.median(np.abs(p_ours - x)))}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pynapple as nap
    except ImportError:
        return out

    def theirs(Xtr, ytr, Xte):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_tr = np.arange(len(Xtr), dtype=float)
            tc = nap.compute_tuning_curves(nap.TsdFrame(t=t_tr, d=Xtr), nap.Tsd(t=t_tr, d=ytr),
                                           bins=n_bins, range=(ytr.min(), ytr.max()))
            if drop_unvisited:  # a bin never visited has NaN rates, which decode_bayes's
                # nansum turns into the most likely bin: leave it out, as ours does
                tc = tc.isel({tc.dims[1]: np.flatnonzero(~np.isnan(tc.values).any(0))})
            t_te = np.arange(len(Xte), dtype=float)
            ep = nap.IntervalSet(0.0, len(Xte) - 0.5)
            decoded, _ = nap.decode_bayes(tc, nap.TsdFrame(t=t_te, d=Xte), ep, bin_size=1.0)
        return np.asarray(decoded.values)

    drop_unvisited = False
    raw = _oof(theirs, X, x, splits)
    drop_unvisited = True
    t_peer, p_peer = _cpu(lambda: _oof(theirs, X, x, splits), repeats)
    out.update(peer_cpu_s=t_peer, cpu_ratio=t_ours / t_peer,
               peer_r2=float(r2_per_output(x, p_peer)[0][0]),
               same_decoded_share=float(np.mean(np.isclose(p_ours, p_peer))),
               max_abs_decoded_diff=float(np.abs(p_ours - p_peer).max()),
               peer_raw_r2=float(r2_per_output(x, raw)[0][0]),
               peer_raw_same_share=float(np.mean(np.isclose(p_ours, raw))))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="day 'tr' only, one repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--bins-before", type=int, default=4)
    p.add_argument("--no-across", action="store_true")
    p.add_argument("--no-lstm", action="store_true", help="skip our LSTM regressor rows")
    p.add_argument("--aligners", default="none,pca,cca,procrustes,distribution",
                   help="across days: aligners in front of the Wiener filter")
    p.add_argument("--n-components", type=int, default=10)
    p.add_argument("--data", type=Path, default=None, help="chewie_demo.mat")
    p.add_argument("--out", type=Path, default=Path("out"))
    args = p.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    peer = _peer()
    if peer is None:
        print("neural-decoding is not installed (pip install neural-decoding): ours only")
    loaded = load_chewie(args.data)
    days: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    targets: dict[str, Any] = {}
    for day, (binned, vel, reach) in loaded.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X3, Y, _ = to_sequences(target_windows(binned, vel, bins_before=args.bins_before))
        days[day] = (X3, Y)
        # labelled aligners' conditions: the reach target of each window's target bin
        targets[day] = reach.values[args.bins_before: args.bins_before + len(Y)]
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for day in (("tr",) if args.quick else ("tr", "te")):
        rows += run_day(day, *days[day], splits_n=args.splits, repeats=repeats, peer=peer,
                        lstm=not (args.quick or args.no_lstm))
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
    across = [] if (args.quick or args.no_across) else across_days(
        days, targets, [a.strip() for a in args.aligners.split(",") if a.strip()],
        args.n_components)
    if across:
        print("\nacross days (DAD's setting): Wiener (ridge, lagged windows) or Kalman (target "
              "bin) trained on one day; the other day adapted on one half of its bins, scored "
              "on the other half (swapped, pooled); aligners in "
              f"{args.n_components} dims; labelled ones use the reach target")
        print(f"{'model':7} {'aligner':14} {'labels':>6} {'tr->te':>7} {'ceiling te':>10} "
              f"{'te->tr':>7} {'ceiling tr':>10} {'wall s':>7}")
        for r in across:
            print(f"{r['model']:7} {r['aligner']:14} {str(r['labelled']):>6} {r['tr_to_te']:7.3f} "
                  f"{r['ceiling_te']:10.3f} {r['te_to_tr']:7.3f} {r['ceiling_tr']:10.3f} "
                  f"{r['wall_s']:7.1f}")
    bayes = bayes_vs_pynapple(repeats)
    if bayes:
        print(f"\nlinear track, x position (px) from {bayes['n_samples']} moving 250 ms bins, "
              f"Poisson decoder ({bayes['n_position_bins']} bins, uniform prior, no smoothing), "
              f"{args.splits} blocked folds: R2 {bayes['r2']:.3f}, median error "
              f"{bayes['median_error_px']:.1f} px, cpu {bayes['ours_cpu_s']:.3f} s")
        if "peer_r2" in bayes:
            print(f"  pynapple decode_bayes, unvisited bins left out (same tuning curves): R2 "
                  f"{bayes['peer_r2']:.3f}; identical decoded positions in "
                  f"{bayes['same_decoded_share']:.1%} of bins (max diff "
                  f"{bayes['max_abs_decoded_diff']:.3g} px); cpu ratio ours/theirs "
                  f"{bayes['cpu_ratio']:.2f}")
            print(f"  pynapple as is (NaN rates of unvisited bins): R2 "
                  f"{bayes['peer_raw_r2']:.3f}, same decoded position in "
                  f"{bayes['peer_raw_same_share']:.1%} of bins")
    wall = time.perf_counter() - t0
    print(f"\nwall {wall:.1f} s on {platform.processor() or platform.machine()} "
          "(2 shared cores; timings under the load of other jobs)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_continuous.json").write_text(json.dumps(
        {"rows": rows, "across": across, "bayes_vs_pynapple": bayes, "args": {k: str(v) for k, v in vars(args).items()},
         "wall_s": wall}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
