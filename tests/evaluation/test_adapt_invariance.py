"""What may and may not reach a test day's adaptation in ``cross_day_matrix``.

* no label reaches a label-free aligner: its adapted transform is identical (to the
  bit) when the test day's labels are permuted or replaced;
* nothing of the scored half reaches adaptation: the transform adapted on one half is
  identical when the other (scored) half is replaced by noise.

Both go through the evaluation's own adapt/score code path (``_adapt`` is wrapped to
record every adapted aligner with the trials it was adapted on).
"""

from __future__ import annotations

import numpy as np
import pytest

import spikedecode.evaluation.consistency as consistency
from spikedecode.align import (
    AdversarialAligner,
    CCAAligner,
    DistributionAligner,
    PerDayPCA,
    ProcrustesAligner,
)
from spikedecode.evaluation import cross_day_matrix, prepare_days
from tests.align.conftest import decoder, lagged_trials

N_LAGS = 6
# how well the tiny aligners align is not the subject here
pytestmark = pytest.mark.filterwarnings("ignore::spikedecode.align.AlignmentWarning")


def _days(seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for d, n_units in (("d0", 9), ("d1", 7)):
        X, y, _ = lagged_trials(rng, 40, n_units, n_lags=N_LAGS, noise=0.3, spanning=True)
        out[d] = (X.reshape(len(X), N_LAGS, n_units), y, np.arange(len(y)))
    return out


LABEL_FREE = {
    "pca": lambda: PerDayPCA(n_components=3),
    "procrustes+time-free": lambda: ProcrustesAligner(n_components=3, n_lags=N_LAGS,
                                                      match="time"),
    "cca+time-free": lambda: CCAAligner(n_components=3, n_lags=N_LAGS, match="time"),
    "distribution": lambda: DistributionAligner(n_components=2, n_lags=N_LAGS,
                                                max_starts=4, n_iter=3, random_state=0),
    "adversarial+time": lambda: AdversarialAligner(
        n_components=2, n_lags=N_LAGS, hidden_size=8, max_epochs=3, ref_epochs=3,
        min_epochs=1, patience=1, batch_size=64, random_state=0),
}


@pytest.fixture
def record(monkeypatch):
    """Every ``(day, adapt trials, fitted aligner, adapted copy)`` of the evaluation."""
    calls: list[tuple] = []
    inner = consistency._adapt

    def spy(al, v, day, sel):
        al_d = inner(al, v, day, sel)
        calls.append((day, np.asarray(v["groups"][sel]).copy(), al, al_d))
        return al_d

    monkeypatch.setattr(consistency, "_adapt", spy)
    return calls


def _run(days, aligner):
    return cross_day_matrix(days, decoder(), aligner=aligner, scheduler="sync", n_splits=2,
                            random_state=0)


@pytest.mark.parametrize("name", sorted(LABEL_FREE))
def test_no_label_reaches_a_label_free_aligner(name, record):
    days = _days()
    aligner = LABEL_FREE[name]()
    assert not aligner.uses_labels
    _run(days, aligner)
    calls = [c for c in record if c[0] == "d1"]
    assert len(calls) == 2  # two halves of the test day
    data = prepare_days(days, shared_units=False)
    rng = np.random.default_rng(5)
    y = data["d1"]["y"]
    for replaced in (rng.permutation(y), np.where(y == "a", "b", "a"), np.full(len(y), "x")):
        # same trials, other labels (and other conditions), adapted through the same path
        v = {**data["d1"], "y": replaced, "cond": replaced}
        for day, trials, al, al_d in calls:
            sel = np.flatnonzero(np.isin(v["groups"], trials))
            al_new = consistency._adapt(al, v, day, sel)
            X = data["d1"]["X"]
            assert np.array_equal(al_new.transform(X, day=day), al_d.transform(X, day=day))


@pytest.mark.parametrize("name", ["cca", "procrustes+time-free"])
def test_the_scored_half_never_reaches_adaptation(name, record):
    aligner = (CCAAligner(n_components=3, n_lags=N_LAGS) if name == "cca"
               else LABEL_FREE[name]())
    days = _days()
    _run(days, aligner)
    first = [c for c in record if c[0] == "d1"]
    (_, fit0, _, al0), (_, fit1, _, al1) = first
    scored0 = np.setdiff1d(days["d1"][2], fit0)  # the half scored with al0
    np.testing.assert_array_equal(np.sort(scored0), np.sort(fit1))
    X, y, g = days["d1"]
    noisy = X.copy()
    rows = np.isin(g, scored0)
    noisy[rows] = np.random.default_rng(9).normal(size=noisy[rows].shape) * 5
    record.clear()
    _run({"d0": days["d0"], "d1": (noisy, y, g)}, aligner)
    (_, fit0b, _, al0b), (_, _, _, al1b) = [c for c in record if c[0] == "d1"]
    np.testing.assert_array_equal(fit0, fit0b)  # the same split (labels and trials unchanged)
    probe = prepare_days(days, shared_units=False)["d1"]["X"]
    assert np.array_equal(al0b.transform(probe, day="d1"), al0.transform(probe, day="d1"))
    # control: the aligner adapted on the noised half does change
    assert not np.allclose(al1b.transform(probe, day="d1"), al1.transform(probe, day="d1"))


def test_control_a_labelled_aligner_does_see_the_labels(record):
    """The check above can fail: with labels, permuting them changes the adapted map."""
    days = _days()
    _run(days, CCAAligner(n_components=3, n_lags=N_LAGS))
    data = prepare_days(days, shared_units=False)
    day, trials, al, al_d = [c for c in record if c[0] == "d1"][0]
    perm = np.random.default_rng(5).permutation(data["d1"]["y"])
    v = {**data["d1"], "y": perm, "cond": perm}
    al_new = consistency._adapt(al, v, day, np.flatnonzero(np.isin(v["groups"], trials)))
    X = data["d1"]["X"]
    assert not np.allclose(al_new.transform(X, day=day), al_d.transform(X, day=day))
