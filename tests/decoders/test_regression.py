"""Regression decoders: Wiener filter (ridge, blocked-CV λ), Wiener cascade, Kalman, Poisson."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.linalg import inv
from scipy.signal import lfilter
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from spikedecode.decoders import (
    KalmanFilterRegressor,
    PoissonBayesRegressor,
    WienerCascadeRegressor,
    WienerFilterRegressor,
    make_decoder,
)
from spikedecode.errors import ConfigError, SpikeDecodeValueError


def _linear_data(n=300, p=6, k=2, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    W = rng.normal(size=(p, k))
    return X, X @ W + 1.5 + noise * rng.normal(size=(n, k))


def test_wiener_least_squares_equals_sklearn_linear_regression():
    X, Y = _linear_data()
    ours = WienerFilterRegressor(lambdas=(0.0,)).fit(X, Y)
    ref = LinearRegression().fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("lam", [1e-3, 0.1, 3.0])
def test_ridge_convention_is_alpha_equal_n_lambda(lam):
    X, Y = _linear_data(n=120)
    ours = WienerFilterRegressor(lambdas=(lam,)).fit(X, Y)
    ref = Ridge(alpha=len(X) * lam).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-7, atol=1e-10)


def test_blocked_search_shrinks_noise_and_not_signal():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 40))
    noise_fit = WienerFilterRegressor(cv=4).fit(X, rng.normal(size=200))
    assert noise_fit.lambda_ >= 1.0  # pure noise: strongest shrinkage wins
    Xs, Ys = _linear_data(n=400, p=5, noise=0.01)
    sig_fit = WienerFilterRegressor(cv=4).fit(Xs, Ys)
    assert sig_fit.lambda_ <= 1e-3  # a clean linear map: (almost) no shrinkage
    assert sig_fit.cv_mse_.shape == sig_fit.lambdas_.shape


def test_wiener_accepts_3d_windows_and_1d_target():
    rng = np.random.default_rng(0)
    X3 = rng.normal(size=(100, 3, 4))
    y = X3[:, 0, 1] - X3[:, 2, 3]
    reg = WienerFilterRegressor(lambdas=(0.0,)).fit(X3, y)
    assert reg.predict(X3).shape == (100,)
    np.testing.assert_allclose(reg.predict(X3), y, atol=1e-8)


def test_cascade_beats_linear_on_a_static_nonlinearity():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4))
    y = np.c_[np.tanh(2 * X[:, 0]), (X[:, 1] + 0.5 * X[:, 2]) ** 3]
    lin = WienerFilterRegressor().fit(X[:400], y[:400]).score(X[400:], y[400:])
    cas = WienerCascadeRegressor(degree=3).fit(X[:400], y[:400])
    assert cas.poly_.shape == (2, 4)
    assert cas.score(X[400:], y[400:]) > lin + 0.05


def _kalman_reference(Ztr, Str, Zte):
    """Wu et al. (2003) with the textbook gain K = P Hᵀ (H P Hᵀ + Q)⁻¹, on centred data."""
    mz, ms = Ztr.mean(0), Str.mean(0)
    S, Z = (Str - ms).T, (Ztr - mz).T
    n = S.shape[1]
    A = S[:, 1:] @ S[:, :-1].T @ inv(S[:, :-1] @ S[:, :-1].T)
    R = S[:, 1:] - A @ S[:, :-1]
    W = R @ R.T / (n - 1)
    H = Z @ S.T @ inv(S @ S.T)
    Q = (Z - H @ S) @ (Z - H @ S).T / n
    k = A.shape[0]
    P, s = np.zeros((k, k)), np.zeros(k)
    out = [s]
    for z in (Zte - mz)[1:]:
        Pm = A @ P @ A.T + W
        sm = A @ s
        K = Pm @ H.T @ inv(H @ Pm @ H.T + Q)
        P = (np.eye(k) - K @ H) @ Pm
        s = sm + K @ (z - H @ sm)
        out.append(s)
    return np.array(out) + ms


def test_kalman_equals_the_textbook_filter():
    rng = np.random.default_rng(0)
    v = lfilter([1.0], [1.0, -0.9], rng.normal(size=(500, 2)), axis=0)
    Z = v @ rng.normal(size=(2, 15)) + rng.normal(size=(500, 15))
    kf = KalmanFilterRegressor().fit(Z[:350], v[:350])
    np.testing.assert_allclose(kf.predict(Z[350:]), _kalman_reference(Z[:350], v[:350], Z[350:]),
                               rtol=1e-7, atol=1e-9)
    assert kf.score(Z[350:], v[350:]) > 0.5
    # noise_scale > 1 trusts the dynamics more: a smoother output
    smooth = KalmanFilterRegressor(noise_scale=10.0).fit(Z[:350], v[:350]).predict(Z[350:])
    assert np.abs(np.diff(smooth, axis=0)).mean() < np.abs(np.diff(kf.predict(Z[350:]),
                                                                    axis=0)).mean()


def test_make_decoder_builds_regressors_that_clone_and_grid_search():
    pipe = make_decoder("wiener", lambdas=(0.0, 1.0), cv=3)
    assert isinstance(pipe, Pipeline) and [n for n, _ in pipe.steps] == ["scale", "reg"]
    assert isinstance(make_decoder("wiener_cascade").steps[-1][1], WienerCascadeRegressor)
    assert isinstance(make_decoder("kalman", noise_scale=2.0), KalmanFilterRegressor)
    assert isinstance(make_decoder("poisson_bayes"), PoissonBayesRegressor)
    X, Y = _linear_data(n=150)
    est = clone(pipe).fit(X, Y)
    assert est.predict(X).shape == (150, 2)
    gs = GridSearchCV(make_decoder("wiener"), {"reg__lambdas": [(0.0,), (10.0,)]}, cv=3)
    assert gs.fit(X, Y).best_params_ == {"reg__lambdas": (0.0,)}
    with pytest.raises(ConfigError, match="not parameters of the 'kalman'"):
        make_decoder("kalman", degree=2)
    with pytest.raises(ConfigError, match="'wiener'"):
        make_decoder("ridge")
    with pytest.raises(ConfigError, match="lambdas == "):
        WienerFilterRegressor(lambdas=(-1.0,)).fit(X, Y)


def _place_cells(n=3000, n_units=15, dims=1, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 100, (n, dims))
    centres = rng.uniform(0, 100, (n_units, dims))
    d2 = ((pos[:, None, :] - centres[None]) ** 2).sum(-1)
    return rng.poisson(4 * np.exp(-0.5 * d2 / 10 ** 2) + 0.05), pos


@pytest.mark.parametrize("dims", [1, 2])
def test_poisson_decoder_recovers_position(dims):
    X, pos = _place_cells(dims=dims, n_units=15 if dims == 1 else 40)
    y = pos[:, 0] if dims == 1 else pos
    dec = PoissonBayesRegressor(n_position_bins=25).fit(X[:2000], y[:2000])
    err = np.sqrt(((dec.predict(X[2000:]).reshape(-1, dims) - pos[2000:]) ** 2).sum(1))
    chance = np.sqrt(((pos[2000:] - pos[2000:].mean(0)) ** 2).sum(1))
    assert np.median(err) < 0.3 * np.median(chance)
    post = dec.predict_posterior(X[2000:2010])
    np.testing.assert_allclose(post.sum(1), 1.0)
    assert post.shape == (10, 25 ** dims)
    mean = PoissonBayesRegressor(n_position_bins=25, estimate="mean").fit(X[:2000], y[:2000])
    assert mean.predict(X[2000:]).shape == y[2000:].shape


def test_poisson_decoder_gives_unvisited_bins_zero_probability():
    X, pos = _place_cells(n=500)
    y = pos[:, 0]
    keep = (y < 40) | (y > 60)  # the animal never visits the middle
    dec = PoissonBayesRegressor(n_position_bins=10, smooth=0).fit(X[keep], y[keep])
    post = dec.predict_posterior(X)
    never = (dec.bin_centers_[:, 0] > 42) & (dec.bin_centers_[:, 0] < 58)
    assert never.any() and np.all(post[:, never] == 0)
    with pytest.raises(SpikeDecodeValueError, match="counts"):
        dec.predict(-np.ones((2, X.shape[1])))


def test_poisson_decoder_equals_pynapple_decode_bayes():
    nap = pytest.importorskip("pynapple")
    import warnings

    X, pos = _place_cells(n=1500, n_units=10)
    y = pos[:, 0]
    dec = PoissonBayesRegressor(n_position_bins=15, smooth=0.0, min_rate=1e-12)
    dec.fit(X[:1000], y[:1000])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = np.arange(1000.0)
        tc = nap.compute_tuning_curves(nap.TsdFrame(t=t, d=X[:1000].astype(float)),
                                       nap.Tsd(t=t, d=y[:1000]), bins=15,
                                       range=(y[:1000].min(), y[:1000].max()))
        np.testing.assert_allclose(tc.values, dec.tuning_curves_, atol=1e-11)
        t2 = np.arange(500.0)
        decoded, _ = nap.decode_bayes(tc, nap.TsdFrame(t=t2, d=X[1000:].astype(float)),
                                      nap.IntervalSet(0.0, 499.5), bin_size=1.0)
    np.testing.assert_allclose(dec.predict(X[1000:]), decoded.values)


@pytest.mark.parametrize("kind", ["lstm_regression", "gru_regression"])
def test_recurrent_regressor_learns_a_lagged_readout_and_is_seeded(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3, 4)).astype(np.float32) * 5 + 10  # far from standard
    Y = np.c_[X[:, 0, 0] - X[:, 2, 1], X[:, 1, 3]]
    reg = make_decoder(kind, hidden_size=16, max_epochs=60, random_state=0)
    reg.fit(X[:300], Y[:300])
    assert reg.score(X[300:], Y[300:]) > 0.7
    np.testing.assert_allclose(reg.x_mean_, X[:270].reshape(-1, 4).mean(0), rtol=1e-4)
    again = make_decoder(kind, hidden_size=16, max_epochs=60, random_state=0).fit(X[:300],
                                                                                  Y[:300])
    np.testing.assert_allclose(again.predict(X[300:]), reg.predict(X[300:]), rtol=1e-5)
    raw = make_decoder(kind, hidden_size=16, max_epochs=2, standardize=False,
                       random_state=0).fit(X[:300], Y[:300])
    assert np.all(raw.x_mean_ == 0) and np.all(raw.x_scale_ == 1)
