"""Every registered aligner on real recordings: one reporting protocol (issue 20).

Data (read from ``$SPIKEDECODE_SHARED_DATA``, default ``../shared/data``):

* ``steinmetz/session1..7.npz``: Neuropixels sessions of two mice (Cori: the sessions
  whose ``mouse_name`` is Cori; Forssmann: the others). No neuron is shared between
  sessions. Target: ``contrast_left > contrast_right`` on the trials where the two
  differ (labels "left"/"right").
* ``dad/chewie_demo.mat`` (``--chewie``): monkey M1 reaching (Dyer et al. 2017); ``Ytr``/
  ``Ttr`` and ``Yte``/``Tte`` are two "days", the target is the reach target per bin,
  runs of constant target are the groups (no trials, so no ``+time`` rows).

Protocol, the same for every row (:func:`spikedecode.evaluation.cross_day_matrix`): for
every ordered pair of one mouse's sessions the aligner is fitted on the training
session, the decoder (``make_decoder("logistic")``, λ by grouped CV) is trained in the
aligned space, and the test session is adapted on one half of its trials and scored on
the other half (then swapped). Repeated for every split seed (``--seeds``, default
0-4: the halves and the folds change with the seed).

* **fixed ceiling** of a session: its raw-unit, whole-window within-session accuracy
  (``within_day_scores(make_decoder("logistic"), ...)``, grouped 5-fold CV, averaged
  over the split seeds): ONE number per session, the same for every row.
* **share** = ``(acc - majority) / (fixed ceiling - majority)`` over the pairs (the
  pairs' means; ceiling and majority rate of each pair's test session).
* **own share**: the same against the row's own diagonal (the within-session accuracy
  in that aligner's space; a second column only: it differs by row).
* every figure is mean ± sd over the seeds; the per-seed values go to the JSON.
* ``below``: pairs scoring below their test session's majority rate (summed over seeds;
  ``cross_day_matrix`` flags them).

Rows ``...+time``: the counts smoothed by a 30 ms Gaussian, 20 lags of 20 ms per trial,
aligned per condition *and* lag (``n_lags=20, pca_on="averages", soft_norm=1.0``).
Rows ``...+time-free`` and ``adversarial+time`` use no label of any day (``match="time"``).

``sklearn-peer``: the same analysis written with numpy/scipy/scikit-learn only, on the
SAME halves (the seeds ``cross_day_matrix`` uses), with a tuned decoder
(``LogisticRegressionCV``) and scored against the same fixed ceilings; the last lines
print ``cca+time`` / peer ratios (share and accuracy) as mean ± sd over the seeds.

The adversarial rows are the slow ones (every training session's reference autoencoder
is fitted six times per seed: five diagonal folds and once for the pairs): they run only
with ``--adversarial``, at ``--slow-seeds`` seeds (default 5, every split seed), and say
so in the output.
``--aligners`` picks the rows, e.g. ``--aligners adversarial+time,adversarial-cond+time
--slow-seeds 5`` re-runs the adversarial rows alone.

Times: ``adapt s`` / ``cpu s`` are the wall and CPU (``time.process_time``) seconds of one
adapt (the first session's aligner adapted to half of the second session), ``total s``
the wall seconds of the row over its seeds; the JSON also has ``total_cpu_s``. The peer
ratio line adds ``cca+time``'s total time over the peer's for the same work (per seed:
the within-session CV, our diagonal, and every ordered pair adapted on one half and
scored on the other), wall and CPU.

Run::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_alignment_real.py \
        [--quick] [--adversarial] [--json out/bench_alignment_real.json]

``--quick``: two sessions per mouse and seeds 0, 1.
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
    # item 7 of issue 20: the decoder trained on SEVERAL aligned sessions: every other
    # session of the mouse (leave_one_day_out), the held-out one adapted on half its trials
    "cca+time-lodo": {"name": "cca", "kw": {"n_components": 10, **_TIME}, "pool": 2,
                      "smooth": 0.03, "lodo": True},
    # item 6 candidate: the same with the label-free aligner (no label of the held-out day;
    # the decoder is trained on every other session, mapped label-free to the reference)
    "procrustes+time-free-lodo": {"name": "procrustes",
                                  "kw": {"n_components": 10, **_TIME, "match": "time"},
                                  "pool": 2, "smooth": 0.03, "lodo": True},
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


#: rows run by default, at every split seed (fast: seconds to a minute per seed and mouse)
FAST = ("pca", "cca", "procrustes", "fa", "cca+time", "procrustes+time-free", PEER)
#: the slow rows (a minute or two of CPU per seed and mouse): only with --adversarial, at
#: --slow-seeds seeds
SLOW = ("adversarial+time", "adversarial-cond+time")


def _labels_of(day: Any) -> np.ndarray:
    return np.asarray(day[1]) if isinstance(day, tuple) else day["label"].values


def majority_rate(y: Any) -> float:
    """Accuracy of always guessing the commonest class."""
    _, counts = np.unique(np.asarray(y), return_counts=True)
    return float(counts.max() / counts.sum())


def fixed_ceilings(days: dict[str, Any], seeds: list[int]) -> dict[str, float]:
    """ONE ceiling per session: raw-unit whole-window within-session accuracy.

    ``within_day_scores(make_decoder("logistic"), X, y, trials)`` (grouped 5-fold CV) on
    the session's own units, averaged over the split seeds.
    """
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import prepare_days, within_day_scores

    data = prepare_days(days, shared_units=False)
    out = {}
    for d, v in data.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[d] = float(np.mean([
                within_day_scores(make_decoder("logistic"), v["X"], v["y"], v["groups"],
                                  n_boot=20, random_state=s)["accuracy"] for s in seeds]))
    return out


def cross_day_halves(data: dict[str, dict[str, Any]], seed: int
                     ) -> dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]]:
    """The adapt/score halves ``cross_day_matrix(..., random_state=seed)`` uses, per pair.

    Row ``i`` (training day) draws its seed as ``draw_seed(seed) + 101 * i``, and every
    test day of that row is split with ``group_splits(y, trials, 2, row_seed + 7)``; a
    test (``tests/align/test_bench_alignment_real.py``) checks this against the halves
    ``cross_day_matrix`` really adapts on.
    """
    from spikedecode._random import draw_seed
    from spikedecode.preprocess.resample import group_splits

    names = list(data)
    base = draw_seed(seed)
    return {(a, b): group_splits(data[b]["y"], data[b]["groups"], 2, base + 101 * i + 7)
            for i, a in enumerate(names) for b in names if b != a}


def adapt_seconds(aligner: Any, days: dict[str, Any]) -> float:
    """Seconds to adapt one half of a second day to an aligner fitted on the first."""
    return adapt_times(aligner, days)[0]


def adapt_times(aligner: Any, days: dict[str, Any]) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of :func:`adapt_seconds`' adapt (CPU: this process's
    ``time.process_time``, which a loaded machine inflates far less than wall time)."""
    from sklearn.base import clone

    from spikedecode.evaluation import condition_keys, prepare_days

    data = prepare_days(days, shared_units=False)
    names = list(data)
    ref, new = data[names[0]], data[names[1]]

    def keys(al: Any, v: dict[str, Any], idx: Any) -> Any:
        if not getattr(al, "uses_labels", True):
            return None
        return condition_keys(v["y"][idx], v["t_rel"][idx] if getattr(al, "uses_time", False)
                              else None)

    al = clone(aligner)
    all_ref = np.arange(len(ref["y"]))
    y_ref = keys(al, ref, all_ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        al.fit({names[0]: ref["X"]}, y=None if y_ref is None else {names[0]: y_ref})
        half = np.arange(len(new["y"]) // 2)
        al_d = copy.deepcopy(al)
        t, c = time.perf_counter(), time.process_time()
        al_d.adapt(new["X"][half], y=keys(al_d, new, half), day=names[1])
        return time.perf_counter() - t, time.process_time() - c


def _summary(per_seed: list[dict[str, float]], **extra: Any) -> dict[str, Any]:
    """Per-seed values (lists) plus the seed-independent fields."""
    keys = per_seed[0].keys()
    return {**{k: [r[k] for r in per_seed] for k in keys}, **extra}


def evaluate(days: dict[str, Any], name: str, cfg: dict[str, Any], seeds: list[int],
             ceilings: dict[str, float]) -> dict[str, Any]:
    """One row on one data set, every seed: accuracy, fixed and own shares, flags."""
    from spikedecode.align import get_aligner
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import cross_day_matrix

    aligner = get_aligner(cfg.get("name", name), **cfg["kw"])
    if cfg.get("lodo"):
        return evaluate_lodo(days, aligner, seeds, ceilings)
    names = list(days)
    off = ~np.eye(len(names), dtype=bool)
    ceil = np.array([[ceilings[j] for j in names] for _ in names])[off]
    t, c = time.perf_counter(), time.process_time()
    per_seed = []
    per_pair: dict[str, list[float]] = {f"{a}->{b}": [] for a in names for b in names if a != b}
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = cross_day_matrix(days, make_decoder("logistic"), aligner=aligner,
                                 random_state=seed)
        v = m.values
        maj = np.broadcast_to(m["majority"].values[None, :], v.shape)[off]
        acc, majority, fixed = float(v[off].mean()), float(maj.mean()), float(ceil.mean())
        own = float(np.diag(v).mean())
        per_seed.append({"acc": acc, "share": (acc - majority) / (fixed - majority),
                         "own_ceiling": own, "own_share": (acc - majority) / (own - majority),
                         "below": int(m.attrs["n_below_majority"])})
        for (i, j) in zip(*np.nonzero(off)):
            per_pair[f"{names[i]}->{names[j]}"].append(float(v[i, j]))
    total, total_cpu = time.perf_counter() - t, time.process_time() - c
    adapt_s, adapt_cpu_s = adapt_times(aligner, days)
    return _summary(per_seed, seeds=list(seeds), majority=majority, ceiling=fixed,
                    pairs=int(off.sum()), adapt_s=adapt_s, adapt_cpu_s=adapt_cpu_s,
                    total_s=total, total_cpu_s=total_cpu, per_pair=per_pair)


def evaluate_lodo(days: dict[str, Any], aligner: Any, seeds: list[int],
                  ceilings: dict[str, float]) -> dict[str, Any]:
    """Decoder trained on all other sessions of the mouse (aligned jointly), every seed.

    ``leave_one_day_out``: the held-out session is adapted on one half of its trials and
    scored on the other (then swapped); share against its fixed ceiling. No own diagonal.
    """
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import leave_one_day_out

    names = list(days)
    maj = np.array([majority_rate(_labels_of(days[d])) for d in names])
    ceil = np.array([ceilings[d] for d in names])
    t = time.perf_counter()
    per_seed = []
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo = leave_one_day_out(days, make_decoder("logistic"), aligner=aligner,
                                   random_state=seed)
        acc = float(lo.values.mean())
        per_seed.append({"acc": acc, "share": (acc - maj.mean()) / (ceil.mean() - maj.mean()),
                         "own_ceiling": float("nan"), "own_share": float("nan"),
                         "below": int(np.sum(lo.values < maj))})
    return _summary(per_seed, seeds=list(seeds), majority=float(maj.mean()),
                    ceiling=float(ceil.mean()), pairs=len(names), adapt_s=float("nan"),
                    total_s=time.perf_counter() - t)


def _peer_latents(z: np.ndarray, y: np.ndarray, fit: np.ndarray, k: int) -> np.ndarray:
    """(trial, time, k) PCA latents; the PCA is fitted on the condition x time averages of
    the ``fit`` trials only (the peer's "session PCA on smoothed condition averages")."""
    from sklearn.decomposition import PCA

    avg = np.concatenate([z[fit][y[fit] == c].mean(axis=0).T for c in np.unique(y[fit])])
    pca = PCA(n_components=k, random_state=0).fit(avg)  # avg: (conditions*time, units)
    n, units, n_t = z.shape
    return pca.transform(z.transpose(0, 2, 1).reshape(-1, units)).reshape(n, n_t, k)


def _peer_decoder() -> Any:
    """A tuned decoder: L2 logistic regression, C chosen by 5-fold CV over 7 decades."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegressionCV(
        Cs=np.logspace(-3, 3, 7), cv=5, scoring="accuracy", max_iter=2000))


def peer_sessions(root: Path, *, quick: bool) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``{mouse: {session: (z, y)}}`` read with numpy/scipy only (the peer's own reader).

    Counts smoothed by a 30 ms Gaussian, pooled to 20 bins of 20 ms, units
    soft-normalised (sd + 1); trials with equal contrasts dropped; y = left > right.
    """
    from scipy.ndimage import gaussian_filter1d

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
    return sessions


def sklearn_peer(days: dict[str, tuple[np.ndarray, np.ndarray]],
                 halves: dict[int, dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]]],
                 ceilings: dict[str, float], *, k: int = 10) -> dict[str, Any]:
    """The fair peer, written with numpy/scipy/scikit-learn only (no spikedecode).

    Per ordered pair of sessions and per half (``halves[seed][pair]``: the halves
    ``cross_day_matrix`` uses with that seed): PCA of the training session's and of the
    adapt half's condition x time averages, ``sklearn.cross_decomposition.CCA`` between
    the two sets of averages, a tuned logistic regression (``LogisticRegressionCV``) on
    the training session's canonical trial trajectories, scored on the other half.
    Share against the same fixed ceilings as every other row; own ceiling: 5-fold CV
    within each session in the peer's space (PCA refitted inside each fold).
    """
    from sklearn.cross_decomposition import CCA
    from sklearn.model_selection import StratifiedKFold

    names = list(days)
    t0, c0 = time.perf_counter(), time.process_time()
    own_cpu = 0.0  # CPU seconds of the within-session part (ours: the diagonal)
    per_seed = []
    for seed, pair_halves in halves.items():
        own = []
        c_own = time.process_time()
        for z, y in days.values():
            folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(y, y)
            own.append(np.mean([
                _peer_decoder().fit(_peer_latents(z, y, tr, k)[tr].reshape(len(tr), -1), y[tr])
                .score(_peer_latents(z, y, tr, k)[te].reshape(len(te), -1), y[te])
                for tr, te in folds]))
        own_cpu += time.process_time() - c_own
        accs, majs, ceils = [], [], []
        for a in names:
            za, ya = days[a]
            la = _peer_latents(za, ya, np.arange(len(ya)), k)
            avg_a = np.concatenate([la[ya == c].mean(axis=0) for c in (0, 1)])
            for b in names:
                if a == b:
                    continue
                zb, yb = days[b]
                pair = []
                for adapt, score in pair_halves[a, b]:
                    lb = _peer_latents(zb, yb, adapt, k)
                    avg_b = np.concatenate([lb[adapt][yb[adapt] == c].mean(axis=0)
                                            for c in (0, 1)])
                    cca = CCA(n_components=k, max_iter=2000).fit(avg_a, avg_b)
                    xa = cca.transform(la.reshape(-1, k)).reshape(len(ya), -1)
                    _, xb = cca.transform(np.zeros((lb[score].size // k, k)),
                                          lb[score].reshape(-1, k))
                    dec = _peer_decoder().fit(xa, ya)
                    pair.append(dec.predict(xb.reshape(len(score), -1)) == yb[score])
                accs.append(float(np.mean(np.concatenate(pair))))  # pooled, as ours
                majs.append(majority_rate(yb))
                ceils.append(ceilings[b])
        acc, majority, fixed = float(np.mean(accs)), float(np.mean(majs)), float(np.mean(ceils))
        own_c = float(np.mean(own))
        per_seed.append({"acc": acc, "share": (acc - majority) / (fixed - majority),
                         "own_ceiling": own_c, "own_share": (acc - majority) / (own_c - majority),
                         "below": int(np.sum(np.array(accs) < np.array(majs)))})
    return _summary(per_seed, seeds=list(halves), majority=majority, ceiling=fixed,
                    pairs=len(names) * (len(names) - 1), adapt_s=float("nan"),
                    total_s=time.perf_counter() - t0, total_cpu_s=time.process_time() - c0,
                    own_cpu_s=own_cpu)


def _ms(values: list[float], fmt: str) -> str:
    """``mean±sd`` of the per-seed values (sd with ddof=1; 0 for one seed)."""
    v = np.asarray(values, float)
    if not np.isfinite(v).any():
        return "-"
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return f"{format(float(v.mean()), fmt)}±{format(sd, fmt)}"


HEADER = (f"{'aligner':22s} {'data':10s} {'pairs':>5s} {'acc (mean±sd)':>13s} {'major.':>6s} "
          f"{'ceiling':>7s} {'share':>11s} {'own share':>11s} {'below':>5s} {'adapt s':>7s} "
          f"{'cpu s':>6s} {'total s':>7s} {'seeds':>5s}")


def format_row(name: str, data_name: str, r: dict[str, Any]) -> str:
    """One printed row: per-seed lists summarised as mean±sd."""
    def sec(key: str) -> str:
        v = r.get(key, float("nan"))
        return "-" if not np.isfinite(v) else f"{v:.2f}" if v < 100 else f"{v:.0f}"

    return (f"{name:22s} {data_name:10s} {r['pairs']:5d} {_ms(r['acc'], '.3f'):>13s} "
            f"{r['majority']:6.3f} {r['ceiling']:7.3f} {_ms(r['share'], '.2f'):>11s} "
            f"{_ms(r['own_share'], '.2f'):>11s} {sum(r['below']):5d} {sec('adapt_s'):>7s} "
            f"{sec('adapt_cpu_s'):>6s} {sec('total_s'):>7s} {len(r['seeds']):5d}")


def main(argv: list[str] | None = None) -> int:
    import json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two sessions per mouse, seeds 0, 1")
    p.add_argument("--aligners", default=",".join(FAST),
                   help=f"comma-separated rows, default {','.join(FAST)}; any of "
                        f"{[*CONFIGS, PEER]}")
    p.add_argument("--adversarial", action="store_true",
                   help=f"also run the slow rows {SLOW} (at --slow-seeds seeds)")
    p.add_argument("--seeds", default=None, help="split seeds, default 0,1,2,3,4")
    p.add_argument("--slow-seeds", type=int, default=5,
                   help="how many of the seeds the adversarial rows run (default 5)")
    p.add_argument("--mice", default=None,
                   help="comma-separated Steinmetz mice to run (default: Cori,Forssmann)")
    p.add_argument("--chewie", action="store_true", help="also the monkey data (no +time rows)")
    p.add_argument("--json", default="out/bench_alignment_real.json",
                   help="where to write every per-seed value ('' to skip)")
    args = p.parse_args(argv)
    root = _root()
    if not (root / "steinmetz").is_dir():
        print(f"skipped: no shared data at {root} (set SPIKEDECODE_SHARED_DATA)")
        return 0
    names = [a for a in args.aligners.split(",") if a]
    if args.adversarial:
        names += [a for a in SLOW if a not in names]
    unknown = sorted(set(names) - set(CONFIGS) - {PEER})
    if unknown:
        p.error(f"unknown aligners {unknown}; choose from {[*CONFIGS, PEER]}")
    seeds = ([int(s) for s in args.seeds.split(",")] if args.seeds
             else ([0, 1] if args.quick else [0, 1, 2, 3, 4]))
    cache: dict[Any, Any] = {}
    mice = None if args.mice is None else [m for m in args.mice.split(",") if m]

    def data_sets(pool: Any, smooth: Any) -> dict[str, Any]:
        if (pool, smooth) not in cache:
            by_mouse = steinmetz_by_mouse(root, pool=pool, quick=args.quick, smooth=smooth)
            unknown_mice = sorted(set(mice or []) - set(by_mouse))
            if unknown_mice:
                p.error(f"--mice: unknown {unknown_mice}; choose from {sorted(by_mouse)}")
            cache[pool, smooth] = {m: v for m, v in by_mouse.items()
                                   if mice is None or m in mice}
        sets = dict(cache[pool, smooth])
        if args.chewie and (root / "dad" / "chewie_demo.mat").is_file():
            if "chewie" not in cache:
                cache["chewie"] = chewie_days(root, quick=args.quick)
            sets["chewie"] = cache["chewie"]
        return sets

    t_all = time.perf_counter()
    raw = data_sets(None, None)
    ceilings = {m: fixed_ceilings(days, seeds) for m, days in raw.items()}
    print(f"split seeds {seeds}; fixed ceiling per session (raw units, whole window, "
          "logistic, within-session grouped 5-fold CV, mean over the seeds):")
    for m, c in ceilings.items():
        print(f"  {m}: " + ", ".join(f"{d} {v:.3f}" for d, v in c.items())
              + f" (majority {np.mean([majority_rate(_labels_of(raw[m][d])) for d in c]):.3f})")
    if args.adversarial:
        print(f"adversarial rows {SLOW}: seeds {seeds[:args.slow_seeds]}")
    print(HEADER)
    print("-" * len(HEADER))
    done: dict[str, dict[str, Any]] = {}
    for name in names:
        row_seeds = seeds[:args.slow_seeds] if name in SLOW else seeds
        if name == PEER:
            ours = data_sets(2, 0.03)
            for mouse, days in peer_sessions(root, quick=args.quick).items():
                if mouse not in ours:
                    continue
                data = _prepared(ours[mouse])
                for d, (_, y) in days.items():  # the same trials, in the same order
                    if not np.array_equal(np.where(y == 1, "left", "right"), data[d]["y"]):
                        raise RuntimeError(f"peer and spikedecode disagree on {d}'s trials")
                halves = {s: cross_day_halves(data, s) for s in row_seeds}
                with warnings.catch_warnings():  # LogisticRegressionCV's API transition
                    warnings.simplefilter("ignore", FutureWarning)
                    r = sklearn_peer(days, halves, ceilings[mouse])
                done[f"{name}/{mouse}"] = r
                print(format_row(name, mouse, r), flush=True)
            continue
        cfg = CONFIGS[name]
        for data_name, days in data_sets(cfg.get("pool"), cfg.get("smooth")).items():
            c = cfg
            if data_name == "chewie" and cfg["kw"].get("n_lags", 1) > 1 and \
                    cfg.get("name", name) != "distribution":
                continue  # no trials in chewie: no lags to resolve
            if data_name == "chewie" and "n_lags" in cfg["kw"]:
                c = {**cfg, "kw": {**cfg["kw"], "n_lags": 1, "max_starts": 16}}
            r = evaluate(days, name, c, row_seeds, ceilings[data_name])
            done[f"{name}/{data_name}"] = r
            print(format_row(name, data_name, r), flush=True)
    print_peer_ratios(done)
    print(f"total {time.perf_counter() - t_all:.0f} s")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"seeds": seeds, "ceilings": ceilings, "rows": done},
                                  indent=1))
        print(f"wrote {out}")
    return 0


def _prepared(days: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from spikedecode.evaluation import prepare_days

    return prepare_days(days, shared_units=False)


def print_peer_ratios(done: dict[str, dict[str, Any]], ours: str = "cca+time") -> None:
    """``ours`` / the peer per mouse, seed by seed (same halves): mean ± sd of the ratios."""
    for key, peer in done.items():
        name, mouse = key.split("/", 1)
        r = done.get(f"{ours}/{mouse}")
        if name != PEER or r is None:
            continue
        n = min(len(r["share"]), len(peer["share"]))
        share = [r["share"][i] / peer["share"][i] for i in range(n)]
        acc = [r["acc"][i] / peer["acc"][i] for i in range(n)]
        line = (f"ratio {ours} / {PEER} {mouse} ({n} seeds, same halves): share "
                f"{_ms(share, '.2f')}, accuracy {_ms(acc, '.3f')}")
        if "total_s" in r and "total_s" in peer and len(r["share"]) == len(peer["share"]):
            # the same work: per seed, the within-session CV (ours: the diagonal) and
            # every ordered pair of sessions, adapted on one half and scored on the other
            line += f", total time {r['total_s'] / peer['total_s']:.2f}x wall"
            if "total_cpu_s" in r and "total_cpu_s" in peer:
                line += f", {r['total_cpu_s'] / peer['total_cpu_s']:.2f}x CPU"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
