"""Every registered aligner on real recordings, with the honest held-out protocol.

Data (read from ``$SPIKEDECODE_SHARED_DATA``, default ``../shared/data``):

* ``steinmetz/session1..7.npz``: Neuropixels sessions of two mice (Cori: the sessions
  whose ``mouse_name`` is Cori; Forssmann: the others). No neuron is shared between
  sessions. Target: ``contrast_left > contrast_right`` on the trials where the two
  differ (labels "left"/"right").
* ``dad/chewie_demo.mat``: monkey M1 reaching (Dyer et al. 2017); ``Ytr``/``Ttr`` and
  ``Yte``/``Tte`` are two "days" (train and test matrices), the target is the reach
  target per bin, and runs of constant target are the groups (no trial ids).

Protocol: :func:`spikedecode.evaluation.cross_day_matrix`. For every ordered pair of
sessions of one mouse the aligner is fitted on the training session, the decoder
(``make_decoder("logistic")``) is trained in the aligned space, and the test session is
adapted on one half of its trials and scored on the other half (then swapped); the
diagonal is a grouped 5-fold CV with the aligner fitted inside each fold.

Rows ``...+time``: the counts smoothed by a 30 ms Gaussian
(``read_steinmetz_npz(..., smooth=0.03)``), 20 lags of 20 ms per trial, aligned per
condition *and* lag (``n_lags=20, pca_on="averages", soft_norm=1.0``); Steinmetz only.
Rows ``...+time-free`` and ``adversarial+time`` use no label of any day: each day's lag
averages over all its trials are matched (``match="time"``).

Printed per aligner and mouse: mean off-diagonal accuracy, the majority rate of the test
sessions, the within-session ceiling (diagonal of the same matrix, aligner space), the
share of the ceiling recovered ``(acc - majority) / (ceiling - majority)`` and the
seconds to adapt one new day (one half of a test session).
When ``cca+time`` and ``sklearn-peer`` both run, a last line per mouse prints their
ratios (share, accuracy, total time).

Run::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_alignment_real.py [--quick]

``--quick``: two sessions per mouse, the first 600 bins of each chewie matrix.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

_TIME: dict[str, Any] = {"n_lags": 20, "pca_on": "averages", "soft_norm": 1.0}

#: row name -> registered aligner ("name", default: the row name), its parameters ("kw")
#: the bins pooled per lag of the Windows ("pool", default: the whole window) and the
#: Gaussian smoothing of the counts ("smooth", sd in s, default: none)
CONFIGS: dict[str, dict[str, Any]] = {
    "pca": {"kw": {"n_components": 10}},
    "cca": {"kw": {"n_components": 10}},
    "procrustes": {"kw": {"n_components": 10}},
    "fa": {"kw": {"n_components": 10, "random_state": 0}},
    "adversarial": {"kw": {"n_components": 10, "random_state": 0}},
    "adversarial-cond": {"kw": {"n_components": 10, "random_state": 0}},
    # the real-data setting: keep each new encoder near its aligned start (few trials)
    "adversarial-cond+anchor": {"name": "adversarial-cond",
                                "kw": {"n_components": 10, "random_state": 0,
                                       "anchor_penalty": 10.0}},
    "distribution": {"kw": {"n_components": 6, "n_lags": 5, "random_state": 0}, "pool": 8},
    # time-resolved (issue 14): counts smoothed by a 30 ms Gaussian, 20 lags of 20 ms per
    # trial; PCA of each day's condition-and-lag averages (soft-normalised units), the map
    # fitted on the 2 x 20 matched condition/lag averages; the decoder reads the 20 x 10
    # aligned latents of each trial (whole trials scored)
    "cca+time": {"name": "cca", "kw": {"n_components": 10, **_TIME}, "pool": 2,
                 "smooth": 0.03},
    "procrustes+time": {"name": "procrustes", "kw": {"n_components": 10, **_TIME}, "pool": 2,
                        "smooth": 0.03},
    # label-free (no label of any day): the same layout, matched on the lag averages of
    # all trials only (match="time")
    "cca+time-free": {"name": "cca", "kw": {"n_components": 10, **_TIME, "match": "time"},
                      "pool": 2, "smooth": 0.03},
    "procrustes+time-free": {"name": "procrustes",
                             "kw": {"n_components": 10, **_TIME, "match": "time"},
                             "pool": 2, "smooth": 0.03},
    # the adversarial aligners in the same layout: the front end above (CCA on condition
    # and lag; label-free: Procrustes on lags), refined by the adversarial game
    "adversarial+time": {"name": "adversarial",
                         "kw": {"n_components": 10, **_TIME, "random_state": 0},
                         "pool": 2, "smooth": 0.03},
    "adversarial-cond+time": {"name": "adversarial-cond",
                              "kw": {"n_components": 10, **_TIME, "random_state": 0},
                              "pool": 2, "smooth": 0.03},
}

#: the issue's peer: the same analysis in plain numpy/scipy/scikit-learn
PEER = "sklearn-peer"


def _root() -> Path:
    env = os.environ.get("SPIKEDECODE_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def steinmetz_by_mouse(root: Path, *, pool: int | None, quick: bool,
                       smooth: float | None = None) -> dict[str, dict[str, Any]]:
    """``{mouse: {session: Windows}}``, trials with equal contrasts dropped."""
    from spikedecode.datasets import read_steinmetz_npz

    out: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "steinmetz").glob("session*.npz")):
        w = read_steinmetz_npz(path, drop_equal=True, pool=pool, smooth=smooth)
        mouse = "Cori" if w.attrs.get("mouse_name") == "Cori" else "Forssmann"
        out.setdefault(mouse, {})[path.stem] = w
    if quick:
        out = {m: dict(list(s.items())[:2]) for m, s in out.items()}
    return out


def chewie_days(root: Path, *, quick: bool) -> dict[str, tuple[Any, Any, Any]]:
    """``{"train": (X, y, groups), "test": ...}``; groups = runs of constant target."""
    from scipy.io import loadmat

    m = loadmat(root / "dad" / "chewie_demo.mat")
    days = {}
    for name, (ykey, tkey) in {"train": ("Ytr", "Ttr"), "test": ("Yte", "Tte")}.items():
        X = np.asarray(m[ykey], dtype=np.float32)
        y = np.asarray(m[tkey]).ravel().astype(str)
        if quick:
            X, y = X[:600], y[:600]
        groups = np.concatenate([[0], np.cumsum(y[1:] != y[:-1])]).astype(np.int64)
        days[name] = (X, y, groups)
    return days


def _labels_of(day: Any) -> np.ndarray:
    return np.asarray(day[1]) if isinstance(day, tuple) else day["label"].values


def adapt_seconds(aligner: Any, days: dict[str, Any]) -> float:
    """Seconds to adapt one half of a second day to an aligner fitted on the first."""
    from sklearn.base import clone

    from spikedecode.evaluation import prepare_days

    data = prepare_days(days, shared_units=False)
    names = list(data)
    ref, new = data[names[0]], data[names[1]]

    def keys(al: Any, v: dict[str, Any], idx: Any) -> Any:
        if not getattr(al, "uses_labels", True):
            return None
        y = v["y"][idx]
        if getattr(al, "uses_time", False):
            return np.asarray([f"{a}@{t:.3f}" for a, t in zip(y, v["t_rel"][idx])])
        return y

    al = clone(aligner)
    all_ref = np.arange(len(ref["y"]))
    al.fit({names[0]: ref["X"]}, y=None if keys(al, ref, all_ref) is None
           else {names[0]: keys(al, ref, all_ref)})
    half = np.arange(len(new["y"]) // 2)
    al_d = copy.deepcopy(al)
    t = time.perf_counter()
    al_d.adapt(new["X"][half], y=keys(al_d, new, half), day=names[1])
    return time.perf_counter() - t


def evaluate(days: dict[str, Any], name: str, cfg: dict[str, Any], seed: int) -> dict[str, float]:
    from spikedecode.align import get_aligner
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import cross_day_matrix

    aligner = get_aligner(cfg.get("name", name), **cfg["kw"])
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = cross_day_matrix(days, make_decoder("logistic"), aligner=aligner, random_state=seed)
        secs = adapt_seconds(aligner, days)
    v = m.values
    off = ~np.eye(len(v), dtype=bool)
    names = list(days)
    maj = np.array([[max(np.unique(_labels_of(days[j]), return_counts=True)[1])
                     / len(_labels_of(days[j])) for j in names] for _ in names])
    acc, majority, ceiling = float(v[off].mean()), float(maj[off].mean()), float(np.diag(v).mean())
    share = (acc - majority) / (ceiling - majority) if ceiling > majority else float("nan")
    return {"acc": acc, "majority": majority, "ceiling": ceiling, "share": share,
            "adapt_s": secs, "total_s": time.perf_counter() - t, "pairs": int(off.sum())}


def _peer_latents(z: np.ndarray, y: np.ndarray, fit: np.ndarray, k: int) -> np.ndarray:
    """(trial, time, k) PCA latents; the PCA is fitted on the condition x time averages of
    the ``fit`` trials only (the peer's "session PCA on smoothed condition averages")."""
    from sklearn.decomposition import PCA

    avg = np.concatenate([z[fit][y[fit] == c].mean(axis=0).T for c in np.unique(y[fit])])
    pca = PCA(n_components=k, random_state=0).fit(avg)  # avg: (conditions*time, units)
    n, units, n_t = z.shape
    return pca.transform(z.transpose(0, 2, 1).reshape(-1, units)).reshape(n, n_t, k)


def _peer_decoder() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def sklearn_peer(root: Path, *, quick: bool, seed: int, k: int = 10) -> dict[str, dict[str, float]]:
    """The issue's peer, written with numpy/scipy/scikit-learn only (no spikedecode).

    Per session: counts smoothed by a 30 ms Gaussian, pooled to 20 bins of 20 ms, units
    soft-normalised (sd + 1); PCA on the condition x time averages. For each ordered pair
    of one mouse's sessions, the test session's trials are split in two stratified halves:
    ``sklearn.cross_decomposition.CCA`` is fitted between the training session's and the
    adapt half's condition x time latent averages, a logistic regression on the training
    session's canonical trial trajectories scores the other half (then the halves swap).
    Ceiling: 5-fold CV within each session, PCA refitted inside each fold.
    """
    from scipy.ndimage import gaussian_filter1d
    from sklearn.cross_decomposition import CCA
    from sklearn.model_selection import StratifiedKFold

    sessions: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for path in sorted((root / "steinmetz").glob("session*.npz")):
        f = np.load(path, allow_pickle=False)
        keep = f["contrast_left"] != f["contrast_right"]
        y = (f["contrast_left"] > f["contrast_right"])[keep].astype(int)
        z = gaussian_filter1d(f["spks"][keep].astype(float), 3.0, axis=2, mode="reflect")
        z = z.reshape(*z.shape[:2], 20, 2).sum(axis=3)
        z = (z - z.mean(axis=(0, 2), keepdims=True)) / (z.std(axis=(0, 2), keepdims=True) + 1)
        mouse = "Cori" if str(f["mouse_name"]) == "Cori" else "Forssmann"
        sessions.setdefault(mouse, {})[path.stem] = (z, y)
    if quick:
        sessions = {m: dict(list(s.items())[:2]) for m, s in sessions.items()}
    out = {}
    for mouse, days in sessions.items():
        t0 = time.perf_counter()
        ceil = []
        for z, y in days.values():
            folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(y, y)
            ceil.append(np.mean([
                _peer_decoder().fit(_peer_latents(z, y, tr, k)[tr].reshape(len(tr), -1), y[tr])
                .score(_peer_latents(z, y, tr, k)[te].reshape(len(te), -1), y[te])
                for tr, te in folds]))
        accs, majs = [], []
        for a, (za, ya) in days.items():
            la = _peer_latents(za, ya, np.arange(len(ya)), k)
            avg_a = np.concatenate([la[ya == c].mean(axis=0) for c in (0, 1)])
            dec = _peer_decoder()
            for b, (zb, yb) in days.items():
                if a == b:
                    continue
                halves = list(StratifiedKFold(2, shuffle=True, random_state=seed).split(yb, yb))
                for adapt, score in halves:
                    lb = _peer_latents(zb, yb, adapt, k)
                    avg_b = np.concatenate([lb[adapt][yb[adapt] == c].mean(axis=0)
                                            for c in (0, 1)])
                    cca = CCA(n_components=k, max_iter=2000).fit(avg_a, avg_b)
                    xa = cca.transform(la.reshape(-1, k)).reshape(len(ya), -1)
                    _, xb = cca.transform(np.zeros((lb[score].size // k, k)),
                                          lb[score].reshape(-1, k))
                    dec.fit(xa, ya)
                    accs.append(dec.score(xb.reshape(len(score), -1), yb[score]))
                    majs.append(max(np.mean(yb), 1 - np.mean(yb)))
        acc, majority, ceiling = float(np.mean(accs)), float(np.mean(majs)), float(np.mean(ceil))
        out[mouse] = {"acc": acc, "majority": majority, "ceiling": ceiling,
                      "share": (acc - majority) / (ceiling - majority), "adapt_s": float("nan"),
                      "total_s": time.perf_counter() - t0,
                      "pairs": len(days) * (len(days) - 1)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two sessions per mouse, short chewie")
    p.add_argument("--aligners", default=",".join([*CONFIGS, PEER]),
                   help=f"comma-separated subset of {[*CONFIGS, PEER]}")
    p.add_argument("--no-chewie", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    root = _root()
    if not (root / "steinmetz").is_dir():
        print(f"skipped: no shared data at {root} (set SPIKEDECODE_SHARED_DATA)")
        return 0
    names = [a for a in args.aligners.split(",") if a]
    unknown = sorted(set(names) - set(CONFIGS) - {PEER})
    if unknown:
        p.error(f"unknown aligners {unknown}; choose from {list(CONFIGS)}")
    cache: dict[Any, Any] = {}
    header = (f"{'aligner':18s} {'data':10s} {'pairs':>5s} {'acc':>6s} {'major.':>6s} "
              f"{'ceiling':>7s} {'share':>6s} {'adapt s':>7s} {'total s':>7s}")
    print(header)
    print("-" * len(header))
    done: dict[tuple[str, str], dict[str, float]] = {}
    for name in names:
        if name == PEER:
            for mouse, r in sklearn_peer(root, quick=args.quick, seed=args.seed).items():
                done[name, mouse] = r
                print(f"{name:18s} {mouse:10s} {r['pairs']:5d} {r['acc']:6.3f} "
                      f"{r['majority']:6.3f} {r['ceiling']:7.3f} {r['share']:6.2f} "
                      f"{'-':>7s} {r['total_s']:7.1f}", flush=True)
            continue
        cfg = CONFIGS[name]
        pool, smooth = cfg.get("pool"), cfg.get("smooth")
        if (pool, smooth) not in cache:
            cache[pool, smooth] = steinmetz_by_mouse(root, pool=pool, quick=args.quick,
                                                     smooth=smooth)
        sets = dict(cache[pool, smooth])
        if not args.no_chewie and (root / "dad" / "chewie_demo.mat").is_file():
            if "chewie" not in cache:
                cache["chewie"] = chewie_days(root, quick=args.quick)
            sets["chewie"] = cache["chewie"]
        for data_name, days in sets.items():
            c = cfg
            if data_name == "chewie" and cfg["kw"].get("n_lags", 1) > 1 and \
                    cfg.get("name", name) != "distribution":
                continue  # no trials in chewie: no lags to resolve
            if data_name == "chewie" and "n_lags" in cfg["kw"]:
                # one bin per sample (no trials); fewer starts keep the adapt under 10 s
                c = {**cfg, "kw": {**cfg["kw"], "n_lags": 1, "max_starts": 16}}
            r = evaluate(days, name, c, args.seed)
            done[name, data_name] = r
            print(f"{name:18s} {data_name:10s} {r['pairs']:5d} {r['acc']:6.3f} "
                  f"{r['majority']:6.3f} {r['ceiling']:7.3f} {r['share']:6.2f} "
                  f"{r['adapt_s']:7.2f} {r['total_s']:7.1f}", flush=True)
    print_peer_ratios(done)
    return 0


def print_peer_ratios(done: dict[tuple[str, str], dict[str, float]],
                      ours: str = "cca+time") -> None:
    """``ours`` against the peer, per mouse: share, accuracy and total-time ratios."""
    for (name, mouse), peer in done.items():
        r = done.get((ours, mouse))
        if name != PEER or r is None:
            continue
        print(f"ratio {ours} / {PEER} {mouse}: share {r['share'] / peer['share']:.2f}, "
              f"accuracy {r['acc'] / peer['acc']:.3f}, total time "
              f"{r['total_s'] / peer['total_s']:.1f}x (ours also fits the aligner in "
              "every diagonal fold)")


if __name__ == "__main__":
    sys.exit(main())
