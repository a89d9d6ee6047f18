"""Cross-validation folds in worker processes (spikedecode/_threads.py, ``fold_jobs``):
the same predictions as the serial loop, for a given seed, whatever the count."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from spikedecode import _threads
from spikedecode._threads import ENV_VAR, fold_jobs, thread_limits
from spikedecode.decoders import make_decoder
from spikedecode.evaluation import metrics
from spikedecode.evaluation.metrics import cross_val_predictions, within_day_scores
from spikedecode.preprocess import RandomUnderSampler


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    n_trials, per = 40, 6
    groups = np.repeat(np.arange(n_trials), per)
    y = np.repeat(rng.integers(0, 3, n_trials), per)
    rates = np.full((len(y), 4, 6), 2.0)
    rates[np.arange(len(y)), :, y] += 2.0  # unit c fires more for class c
    X = rng.poisson(rates).astype("float32")
    return X, y, groups


@pytest.fixture
def parallel(monkeypatch):
    """Any fold is worth a worker; two cores allowed."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(_threads, "FOLD_WORK", 0.0)
    monkeypatch.setattr(_threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(_threads, "_load_average", lambda: 0.0)


def test_small_work_stays_in_process_large_work_uses_the_cores(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(_threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(_threads, "_load_average", lambda: 0.5)
    assert fold_jobs(5, work=1e3) == 1
    assert fold_jobs(5, work=1e9) == 2
    assert fold_jobs(1, work=1e9) == 1
    assert fold_jobs(5, work=1e9, on_gpu=True) == 1
    monkeypatch.setenv(ENV_VAR, "1")  # the one thread setting limits the workers too
    assert fold_jobs(5, work=1e9) == 1
    monkeypatch.setenv(ENV_VAR, "8")
    assert fold_jobs(5, work=1e9) == 5  # never more workers than folds
    with thread_limits(3):
        assert fold_jobs(5, work=1e9) == 3


def test_an_overloaded_machine_gets_no_workers_unless_asked(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(_threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(_threads, "_load_average", lambda: 2.5)  # one or two neighbours
    assert fold_jobs(5, work=1e9) == 2
    monkeypatch.setattr(_threads, "_load_average", lambda: 6.0)
    assert fold_jobs(5, work=1e9) == 1
    with thread_limits(2):  # an explicit count is obeyed whatever the load
        assert fold_jobs(5, work=1e9) == 2


def test_the_work_estimate_separates_the_readme_command_from_a_unit_test(monkeypatch):
    monkeypatch.setattr(_threads, "_load_average", lambda: 0.0)
    y_big = np.arange(86_000) % 4
    X_big = np.zeros((86_000, 175), dtype="float32")
    for kind in ("logistic", "lstm"):
        est = make_decoder(kind, random_state=0)
        assert _threads.fold_jobs(5, work=1e12) >= 1
        jobs = metrics._fold_jobs(est, X_big, y_big, 5)
        assert jobs == min(5, _threads.resolve_n_threads()), kind
    small = make_decoder("lstm", random_state=0, device="cpu")
    assert metrics._fold_jobs(small, X_big[:200, :20], y_big[:200], 5) == 1


@pytest.mark.parametrize("kind", [pytest.param("logistic", marks=pytest.mark.slow), "lstm"])
def test_parallel_folds_give_the_serial_predictions(data, parallel, monkeypatch, kind):
    X, y, groups = data
    params = {"max_epochs": 15, "lr": 0.02, "hidden_size": 8, "num_layers": 1, "dropout": 0.0,
              "device": "cpu"} if kind == "lstm" else {}
    Xk = X if kind == "lstm" else X.reshape(len(X), -1)
    est = make_decoder(kind, random_state=0, **params)
    assert metrics._fold_jobs(est, Xk, y, 3) == 2
    sampler = RandomUnderSampler(random_state=0)
    par = cross_val_predictions(est, Xk, y, groups, n_splits=3, sampler=sampler,
                                random_state=5)
    monkeypatch.setattr(_threads, "available_cpus", lambda: 1)
    assert metrics._fold_jobs(est, Xk, y, 3) == 1
    ser = cross_val_predictions(est, Xk, y, groups, n_splits=3, sampler=sampler,
                                random_state=5)
    np.testing.assert_array_equal(par, ser)
    assert (ser == y).mean() > 0.6  # it learned something (chance ~1/3)
    assert len(np.unique(ser)) == 3


@pytest.mark.slow
def test_within_day_scores_are_the_same_whatever_the_worker_count(data, parallel,
                                                                  monkeypatch):
    X, y, groups = data
    est = make_decoder("logistic", random_state=0)
    kw = dict(n_splits=3, n_boot=50, n_repeats=2, n_permutations=3, random_state=1)
    par = within_day_scores(est, X.reshape(len(X), -1), y, groups, **kw)
    monkeypatch.setenv(ENV_VAR, "1")
    ser = within_day_scores(est, X.reshape(len(X), -1), y, groups, **kw)
    for key in ("accuracy", "balanced_accuracy", "accuracy_ci", "chance", "p_value"):
        np.testing.assert_allclose(np.asarray(par[key], float), np.asarray(ser[key], float),
                                   rtol=0, atol=0, err_msg=key)


class _Locked(ClassifierMixin, BaseEstimator):
    """A decoder holding a lock: it cannot be pickled to a worker process."""

    def __init__(self, c=1.0):
        self.c = c
        self._lock = threading.Lock()

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.w_ = X[y == self.classes_[1]].mean(0) - X[y == self.classes_[0]].mean(0)
        return self

    def predict(self, X):
        return self.classes_[(X @ self.w_ > 0).astype(int)]


@pytest.mark.slow
def test_a_decoder_that_cannot_be_pickled_runs_its_folds_here(parallel):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    X = rng.normal(size=(120, 3)) + np.where(y[:, None] == 1, 1.0, -1.0)
    with pytest.raises(Exception):  # noqa: B017 - whatever the pickler raises
        pickle.dumps(_Locked())
    pred = cross_val_predictions(_Locked(), X, y, np.arange(120) // 2, n_splits=3,
                                 random_state=0)
    assert (pred == y).mean() > 0.8
