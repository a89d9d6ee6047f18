"""The honest / leaky adapt protocol, conditions=, unit ids, and the acceptance numbers
on the simulated experiment (moved from tests/align/test_evaluate.py with align.evaluate)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spikedecode.align import AlignmentWarning, get_aligner
from spikedecode.errors import (
    ConfigError,
    NotEnoughDataError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)
from spikedecode.evaluation import (
    LeakageError,
    LeakageWarning,
    check_disjoint,
    cross_day_matrix,
    leave_one_day_out,
    within_day_scores,
)
from spikedecode.preprocess import epoch_bins


def _decoder():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


@pytest.fixture(scope="module")
def sim_exp():
    from spikedecode.datasets import simulate_touch_experiment

    return simulate_touch_experiment(n_days=6, n_repeats=1, n_strokes=8, n_puffs=8, gap=2.0,
                                     random_state=3)


@pytest.fixture(scope="module")
def sim6(sim_exp):
    return {d: epoch_bins(r, bin_size=0.1, t_window=(0.0, 0.5)) for d, r in sim_exp.items()}


def test_lodo_best_aligner_reaches_90_percent_of_within_day(sim6):
    within = np.mean([within_day_scores(_decoder(), w.values[:, 0, :], w["label"].values,
                                        w["trial"].values, n_boot=10, random_state=0)
                      ["accuracy"] for w in sim6.values()])
    assert within > 0.5  # well above chance (1/3)
    res = {n: leave_one_day_out(sim6, _decoder(), aligner=get_aligner(n, n_components=4),
                                random_state=0) for n in ("pca", "cca", "procrustes")}
    best = max(float(res[n].mean()) for n in ("cca", "procrustes"))
    assert best >= 0.9 * within
    # unaligned per-day PCA is clearly lower
    assert float(res["pca"].mean()) < 0.75 * within
    assert not res["cca"].attrs["leaky"] and res["cca"].attrs["uses_labels"]
    assert res["cca"].attrs["protocol"] == "honest"
    assert not res["pca"].attrs["uses_labels"]


def test_leaky_protocol_is_refused_then_flagged(sim6):
    days = {d: sim6[d] for d in range(4)}
    al = get_aligner("cca", n_components=4)
    with pytest.raises(LeakageError, match="allow_leakage"):
        leave_one_day_out(days, _decoder(), aligner=al, protocol="leaky")
    with pytest.warns(LeakageWarning):
        leaky = leave_one_day_out(days, _decoder(), aligner=al, protocol="leaky",
                                  allow_leakage=True, random_state=0)
    assert leaky.attrs["leaky"] and leaky.attrs["protocol"] == "leaky"
    honest = leave_one_day_out(days, _decoder(), aligner=al, random_state=0)
    # the leak can only help: the held-out day's averages contain its test trials
    assert float(leaky.mean()) >= float(honest.mean()) - 0.02


def test_check_disjoint_detects_shared_trials():
    check_disjoint([0, 1, 2], [3, 4])
    with pytest.raises(LeakageError, match="2 trial"):
        check_disjoint([0, 1, 2], [1, 2, 5], day=3)


@pytest.mark.parametrize("adapt_folds", [2, 3])
def test_honest_folds_never_share_trials(sim6, monkeypatch, adapt_folds):
    """Spy on adapt: the trials it sees are never the trials then transformed."""
    from spikedecode.align.cca import CCAAligner

    seen: list[tuple[int, int]] = []
    orig_adapt, orig_transform = CCAAligner.adapt, CCAAligner.transform

    def adapt(self, X, y=None, *, day, **kw):
        self._spy_fit = {x.tobytes() for x in np.asarray(X)}
        return orig_adapt(self, X, y, day=day, **kw)

    def transform(self, X, *, day):
        fit = getattr(self, "_spy_fit", None)
        if fit is not None and day == 0:
            overlap = sum(x.tobytes() in fit for x in np.asarray(X))
            seen.append((overlap, len(X)))
        return orig_transform(self, X, day=day)

    monkeypatch.setattr(CCAAligner, "adapt", adapt)
    monkeypatch.setattr(CCAAligner, "transform", transform)
    days = {d: sim6[d] for d in range(3)}
    lo = leave_one_day_out(days, _decoder(), aligner=CCAAligner(n_components=3),
                           adapt_folds=adapt_folds, held_out=[0], random_state=0)
    assert lo["test_day"].values.tolist() == [0] and lo.attrs["adapt_folds"] == adapt_folds
    # one adapt per fold, and the folds cover the day once
    assert len(seen) == adapt_folds and sum(n for _, n in seen) == sim6[0].sizes["sample"]
    # identical count rows can occur by chance (all-zero bins); most rows must be new
    assert all(o < 0.5 * n for o, n in seen)


def test_cross_day_matrix_improves_off_diagonal_with_alignment(sim6):
    days = {d: sim6[d] for d in range(4)}
    m_pca = cross_day_matrix(days, _decoder(), aligner=get_aligner("pca", n_components=4),
                             random_state=0)
    m_pro = cross_day_matrix(days, _decoder(),
                             aligner=get_aligner("procrustes", n_components=4), random_state=0)
    assert m_pro["train_day"].values.tolist() == [0, 1, 2, 3] and m_pro.shape == (4, 4)
    assert m_pro.attrs["protocol"] == "honest" and not m_pro.attrs["leaky"]
    off = ~np.eye(4, dtype=bool)
    assert m_pro.values[off].mean() > m_pca.values[off].mean() + 0.15
    assert m_pro.values[off].mean() > 0.85 * np.diag(m_pro.values).mean()
    assert np.all((m_pro.values >= 0) & (m_pro.values <= 1))


def test_evaluation_checks_arguments(sim6):
    two = {0: sim6[0], 1: sim6[1]}
    al = get_aligner("pca")
    with pytest.raises(SpikeDecodeTypeError, match="Windows DataArray"):
        leave_one_day_out({0: sim6[0].values, 1: sim6[1].values}, _decoder(), aligner=al)
    with pytest.raises(ConfigError, match="protocol"):
        leave_one_day_out(two, _decoder(), aligner=al, protocol="x")
    with pytest.raises(ConfigError, match="adapt_folds"):
        leave_one_day_out(two, _decoder(), aligner=al, adapt_folds=1)
    with pytest.raises(ConfigError, match="adapt_folds"):
        cross_day_matrix(two, _decoder(), aligner=al, adapt_folds=True)
    with pytest.raises(ConfigError, match="held_out day 7"):
        leave_one_day_out(two, _decoder(), aligner=al, held_out=[7])
    with pytest.raises(SpikeDecodeTypeError, match="make_decoder"):
        cross_day_matrix(two, None, aligner=al)


# ------------------------------------------------------------------- conditions=
def _spy_keys(monkeypatch):
    """Record the condition keys every CCA fit receives."""
    from spikedecode.align.cca import CCAAligner

    seen: list = []
    orig = CCAAligner.fit

    def fit(self, days, y=None, **kw):
        seen.append({d: np.asarray(v) for d, v in y.items()})
        return orig(self, days, y, **kw)

    monkeypatch.setattr(CCAAligner, "fit", fit)
    return seen


def test_conditions_align_on_finer_labels_than_the_decoded_target(sim6, monkeypatch):
    seen = _spy_keys(monkeypatch)
    # decode a binary target (touch vs airpuff), align on the three stimuli
    days = {}
    for d in range(3):
        w = sim6[d]
        lab = w["label"].values.astype(str)
        days[d] = w.assign_coords(stimulus=("sample", lab),
                                  label=("sample", np.where(lab == "airpuff", "puff", "touch")))
    al = get_aligner("cca", n_components=3, random_state=0)
    m = cross_day_matrix(days, _decoder(), aligner=al, conditions="stimulus", random_state=0)
    stimuli = {k.split("@")[0] for fit in seen for v in fit.values() for k in v}
    assert stimuli == set(sim6[0]["label"].values.astype(str).tolist())
    assert m.values.min() > 0.6  # the binary target is decoded on every day
    # default: the keys are the decoded labels
    seen.clear()
    leave_one_day_out(days, _decoder(), aligner=al, held_out=[0], random_state=0)
    assert {k.split("@")[0] for fit in seen for v in fit.values() for k in v} == {"puff",
                                                                                  "touch"}
    # a mapping works for tuples too (and gives the same keys as the coordinate)
    tup = {d: (w.values[:, 0, :], w["label"].values, w["trial"].values, w["t_rel"].values)
           for d, w in days.items()}
    seen.clear()
    lo = leave_one_day_out(tup, _decoder(), aligner=al, held_out=[0], random_state=0,
                           conditions={d: w["stimulus"].values for d, w in days.items()})
    assert {k.split("@")[0] for fit in seen for v in fit.values() for k in v} == stimuli
    assert lo.shape == (1,)


def test_conditions_errors_name_the_fix(sim6):
    tup = {d: (sim6[d].values[:, 0, :], sim6[d]["label"].values, sim6[d]["trial"].values)
           for d in range(2)}
    al = get_aligner("cca", n_components=3)
    with pytest.raises(SpikeDecodeTypeError, match="mapping day"):
        cross_day_matrix(tup, _decoder(), aligner=al, conditions="stimulus")
    with pytest.raises(SpikeDecodeValueError, match="no per-sample coordinate"):
        cross_day_matrix({d: sim6[d] for d in range(2)}, _decoder(), aligner=al,
                         conditions="stimulus")
    with pytest.raises(SpikeDecodeValueError, match="no entry for day 1"):
        cross_day_matrix(tup, _decoder(), aligner=al, conditions={0: tup[0][1]})
    with pytest.raises(SpikeDecodeValueError, match="one condition per sample"):
        cross_day_matrix(tup, _decoder(), aligner=al,
                         conditions={0: tup[0][1][:5], 1: tup[1][1]})


# --------------------------------------------------------------------- unit ids
def test_without_an_aligner_days_must_share_unit_ids(sim6):
    tup = {d: (sim6[d].values[:, 0, :], sim6[d]["label"].values, sim6[d]["trial"].values)
           for d in range(2)}
    assert tup[0][0].shape[1] != tup[1][0].shape[1]  # the simulator draws new units per day
    with pytest.raises(NotEnoughDataError, match="aligner"):
        cross_day_matrix(tup, _decoder())
    with pytest.raises(NotEnoughDataError, match="share no unit ids"):
        leave_one_day_out({d: sim6[d] for d in range(2)}, _decoder())
    # same width, other ids: never matched by position
    w0 = sim6[0]
    other = w0.assign_coords(unit=[f"x{u}" for u in w0["unit"].values])
    with pytest.raises(NotEnoughDataError, match="share no unit ids"):
        cross_day_matrix({0: w0, 1: other}, _decoder())


def test_fa_gets_the_unit_ids_of_windows():
    """FA aligns on the loadings of shared units: with Windows no day falls back to
    matched averages; the same data as tuples (no unit ids) falls back."""
    from spikedecode.datasets import simulate_touch_experiment

    exp = simulate_touch_experiment(n_days=3, n_repeats=1, n_strokes=8, n_puffs=8, gap=2.0,
                                    unit_overlap=0.8, random_state=1)
    days = {d: epoch_bins(r, bin_size=0.1, t_window=(0.0, 0.5)) for d, r in exp.items()}
    shared = set.intersection(*[set(w["unit"].values.tolist()) for w in days.values()])
    assert len(shared) >= 4
    fa = get_aligner("fa", n_components=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlignmentWarning)
        lo = leave_one_day_out(days, _decoder(), aligner=fa, held_out=[2], random_state=0)
        m = cross_day_matrix({d: days[d] for d in (0, 1)}, _decoder(), aligner=fa,
                             random_state=0)
    assert lo.shape == (1,) and m.shape == (2, 2)
    tup = {d: (w.values[:, 0, :], w["label"].values, w["trial"].values, w["t_rel"].values)
           for d, w in days.items()}
    with pytest.warns(AlignmentWarning, match="matched condition averages"):
        leave_one_day_out(tup, _decoder(), aligner=fa, held_out=[2], random_state=0)

