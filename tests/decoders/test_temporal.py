"""SlidingEstimator / GeneralizingEstimator: one decoder per lag, tested on every lag."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from spikedecode.decoders import GeneralizingEstimator, SlidingEstimator, make_decoder
from spikedecode.errors import SpikeDecodeValueError


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    X = rng.normal(size=(60, 4, 3))
    X[:, 2, 0] += 3 * y
    return X, y


def test_each_lag_is_the_base_estimator_fitted_on_that_lag(data):
    X, y = data
    est = SlidingEstimator(LogisticRegression()).fit(X, y)
    assert len(est.estimators_) == 4 and est.n_features_in_ == 3
    for t in range(4):
        ref = LogisticRegression().fit(X[:, t], y)
        np.testing.assert_allclose(est.estimators_[t].coef_, ref.coef_)
        np.testing.assert_array_equal(est.predict(X)[:, t], ref.predict(X[:, t]))
    np.testing.assert_allclose(est.predict_proba(X)[:, 2], ref_proba(X, y, 2))
    s = est.score(X, y)
    assert s.shape == (4,) and s[2] > 0.8 and s[2] == s.max()


def ref_proba(X, y, t):
    return LogisticRegression().fit(X[:, t], y).predict_proba(X[:, t])


def test_generalizing_diagonal_is_the_sliding_prediction(data):
    X, y = data
    sl = SlidingEstimator(LogisticRegression()).fit(X, y)
    ge = GeneralizingEstimator(LogisticRegression()).fit(X, y)
    p = ge.predict(X)
    assert p.shape == (60, 4, 4)
    np.testing.assert_array_equal(np.diagonal(p, axis1=1, axis2=2), sl.predict(X))
    # off the diagonal: the decoder of lag 2 tested on lag 0 sees no signal
    np.testing.assert_array_equal(p[:, 2, 0], sl.estimators_[2].predict(X[:, 0]))
    assert ge.score(X, y).shape == (4, 4)
    assert ge.predict_proba(X).shape == (60, 4, 4, 2)


def test_groups_reach_the_inner_search(data):
    X, y = data
    g = np.repeat(np.arange(30), 2)
    est = SlidingEstimator(make_decoder("logistic", lambdas=(1e-3, 1e-1))).fit(X, y, g)
    assert all(hasattr(e[-1], "lambda_") for e in est.estimators_)


def test_bad_shapes_are_named(data):
    X, y = data
    with pytest.raises(SpikeDecodeValueError, match="3-D"):
        SlidingEstimator(LogisticRegression()).fit(X[:, 0], y)
    est = SlidingEstimator(LogisticRegression()).fit(X, y)
    with pytest.raises(SpikeDecodeValueError, match="expecting 3 features"):
        est.predict(X[:, :, :2])
    with pytest.raises(SpikeDecodeValueError, match="GeneralizingEstimator"):
        est.predict(X[:, :2])
    with pytest.raises(SpikeDecodeValueError, match="samples"):
        SlidingEstimator(LogisticRegression()).fit(X, y[:-1])
