"""Regression decoders for continuous targets: Wiener filter, Wiener cascade, Kalman filter.

scikit-learn regressors (``clone``, ``get_params``, Pipelines, ``GridSearchCV``),
multi-output throughout: ``y`` of shape ``(n_samples,)`` or ``(n_samples, n_outputs)``.
``X`` is ``(n_samples, n_features)`` — e.g. ``to_xy`` of
:func:`~spikedecode.preprocess.target_windows`, the lagged counts flattened — or the
3-D windows ``(n_samples, n_lags, n_units)``, flattened here.

* :class:`WienerFilterRegressor`: linear regression on the lagged bins (the Wiener
  filter of the motor BCI literature), ridge-regularised with λ picked by **blocked**
  cross-validation (contiguous blocks in time with ``gap`` samples removed at their
  borders, :class:`~spikedecode.preprocess.BlockedTimeSplit`; shuffled folds would let
  autocorrelated neighbours leak). λ follows the convention of the linear classifiers:
  the objective is the *mean* squared error plus ``λ ||w||²`` (scikit-learn's
  ``Ridge(alpha=n_samples * λ)``), so the same λ means the same shrinkage at any data
  size. ``lambdas=(0.0,)`` is ordinary least squares.
* :class:`WienerCascadeRegressor`: that linear stage followed by a per-output polynomial
  of its prediction (a static nonlinearity, Glaser et al. 2020).
* :class:`KalmanFilterRegressor`: Wu et al. (2003): the state is the kinematics,
  ``x_t = A x_{t-1} + w`` and ``z_t = H x_t + q`` (``z`` the features), all four matrices
  fit by least squares on the (centred) training series; prediction runs the filter
  over the samples in the order given. The filter runs in information form (gain
  ``(P⁻ + HᵀQ⁻¹H)⁻¹ HᵀQ⁻¹``), so each step inverts a state-sized matrix, not a
  feature-sized one; mathematically the same filter as the textbook gain.

References
----------
Wu W, Black MJ, et al. (2003). Neural decoding of cursor motion using a Kalman filter.
NIPS 15. Glaser JI, Benjamin AS, et al. (2020). Machine learning for neural decoding.
eNeuro 7(4).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import linalg
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from spikedecode._validation import Interval, check_param
from spikedecode.errors import ConfigError, NotEnoughDataError

__all__ = [
    "DEFAULT_RIDGE_LAMBDAS",
    "WienerFilterRegressor",
    "WienerCascadeRegressor",
    "KalmanFilterRegressor",
    "ridge_path",
]

#: λ grid of the Wiener filter's blocked-CV search: 0 (least squares) and 1e-4 .. 1e2.
DEFAULT_RIDGE_LAMBDAS: NDArray[np.float64] = np.concatenate(([0.0], np.logspace(-4, 2, 13)))


def _flat(X: Any) -> NDArray[np.float64]:
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(X.shape[0], -1) if X.ndim > 2 else X


def _xy(est: Any, X: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    X, y = validate_data(est, X, y, multi_output=True, y_numeric=True, allow_nd=True,
                         dtype=np.float64)
    X = _flat(X)
    y = np.asarray(y, dtype=np.float64)
    est._y_1d = y.ndim == 1
    return X, (y[:, None] if y.ndim == 1 else y)


def _out(est: Any, Y: NDArray[np.float64]) -> NDArray[np.float64]:
    return Y[:, 0] if est._y_1d else Y


def ridge_path(X: ArrayLike, Y: ArrayLike, lambdas: ArrayLike
               ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Ridge solutions for every λ from one eigendecomposition (intercept not penalised).

    Minimises ``mean ||y - X w - b||² + λ ||w||²`` for each λ. Directions of ``X`` with
    (numerically) zero variance get zero weight, so ``λ = 0`` gives the minimum-norm least
    squares solution.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
    Y : array-like, shape (n_samples, n_outputs)
    lambdas : sequence of float >= 0

    Returns
    -------
    coefs : ndarray, shape (n_lambdas, n_features, n_outputs)
    intercepts : ndarray, shape (n_lambdas, n_outputs)

    Examples
    --------
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(50, 3))
    >>> Y = X @ np.array([[1.0], [2.0], [0.0]]) + 5
    >>> coefs, b = ridge_path(X, Y, [0.0, 10.0])
    >>> bool(np.allclose(coefs[0].ravel(), [1, 2, 0])), bool(np.isclose(b[0, 0], 5))
    (True, True)
    >>> bool(np.abs(coefs[1]).sum() < np.abs(coefs[0]).sum())  # shrunk
    True
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n = X.shape[0]
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    evals, evecs = linalg.eigh(Xc.T @ Xc)
    proj = evecs.T @ (Xc.T @ Yc)  # (p, k)
    tol = max(evals.max(initial=0.0), 0.0) * max(Xc.shape) * np.finfo(np.float64).eps
    keep = evals > tol
    lam = np.asarray(lambdas, dtype=np.float64)
    coefs = np.empty((lam.size, X.shape[1], Y.shape[1]))
    for i, λ in enumerate(lam):
        d = np.zeros_like(evals)
        d[keep] = 1.0 / (evals[keep] + n * λ)
        coefs[i] = evecs @ (d[:, None] * proj)
    intercepts = my[None, :] - np.einsum("p,lpk->lk", mx, coefs)
    return coefs, intercepts


def _check_lambdas(lambdas: Any) -> NDArray[np.float64]:
    lam = DEFAULT_RIDGE_LAMBDAS if lambdas is None else np.atleast_1d(
        np.asarray(lambdas, dtype=np.float64))
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise ConfigError(f"lambdas == {lambdas!r}, must be a non-empty list of numbers >= 0.")
    return np.unique(lam)


class WienerFilterRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Linear (ridge) regression on lagged bins, λ picked by blocked cross-validation.

    Parameters
    ----------
    lambdas : array-like of float or None, default=None
        λ grid (the objective is the mean squared error plus ``λ ||w||²``); None means
        :data:`DEFAULT_RIDGE_LAMBDAS`. One value fits it without a search; ``(0.0,)`` is
        ordinary least squares (the Wiener filter of ``neural-decoding``).
    cv : int, default=5
        Contiguous blocks of the inner search (samples are taken in the order given).
    gap : int, default=0
        Samples removed from the training side at each border of an inner test block;
        use at least the number of lagged bins per sample
        (:func:`~spikedecode.evaluation.regression.regression_scores` passes its own gap).

    Attributes
    ----------
    coef_ : ndarray, shape (n_outputs, n_features) or (n_features,)
    intercept_ : ndarray, shape (n_outputs,) or float
    lambda_ : float
        The λ picked (the largest of the best when several tie).
    cv_mse_ : ndarray, shape (n_lambdas,)
        Mean squared error of each λ over the inner folds (empty with one λ).
    lambdas_ : ndarray
        The grid searched.
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(200, 4))
    >>> Y = X[:, :2] @ [[1.0, 0.0], [0.5, 2.0]] + 0.1 * rng.normal(size=(200, 2))
    >>> reg = WienerFilterRegressor().fit(X, Y)
    >>> reg.predict(X).shape, reg.score(X, Y) > 0.95
    ((200, 2), True)
    """

    def __init__(self, lambdas: Sequence[float] | None = None, cv: int = 5, gap: int = 0) -> None:
        self.lambdas = lambdas
        self.cv = cv
        self.gap = gap

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.three_d_array = True
        return tags

    def fit(self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None
            ) -> WienerFilterRegressor:
        """Fit the filter, picking λ by blocked CV when the grid has several values.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)
            In time order.
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)
        groups : array-like, shape (n_samples,), optional
            Trial of each sample: a trial in an inner test block leaves the training side.

        Returns
        -------
        self
        """
        lam = _check_lambdas(self.lambdas)
        cv = check_param(self.cv, "cv", Interval(Integral, 2, None))
        gap = check_param(self.gap, "gap", Interval(Integral, 0, None))
        X, Y = _xy(self, X, y)
        self.lambdas_ = lam
        self.cv_mse_ = np.zeros(0)
        if lam.size > 1:
            from spikedecode.preprocess.resample import BlockedTimeSplit

            if X.shape[0] < 2 * cv:
                raise NotEnoughDataError(
                    f"{X.shape[0]} samples are too few for the cv == {cv} block search of λ; "
                    "pass a single λ (lambdas=(λ,)) or more samples."
                )
            mse = np.zeros(lam.size)
            for tr, te in BlockedTimeSplit(cv, gap=gap).split(X, groups=groups):
                if tr.size < 2:
                    continue
                coefs, b = ridge_path(X[tr], Y[tr], lam)
                pred = np.einsum("np,lpk->lnk", X[te], coefs) + b[:, None, :]
                mse += ((pred - Y[te][None]) ** 2).mean(axis=(1, 2)) * te.size
            self.cv_mse_ = mse / X.shape[0]
            best = np.flatnonzero(self.cv_mse_ <= self.cv_mse_.min() * (1 + 1e-12))
            self.lambda_ = float(lam[best.max()])
        else:
            self.lambda_ = float(lam[0])
        coefs, b = ridge_path(X, Y, [self.lambda_])
        self.coef_ = coefs[0].T[0] if self._y_1d else coefs[0].T
        self.intercept_ = float(b[0, 0]) if self._y_1d else b[0]
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predict the target.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self, "coef_")
        X = _flat(validate_data(self, X, reset=False, allow_nd=True, dtype=np.float64))
        return X @ np.asarray(self.coef_).T + self.intercept_


class WienerCascadeRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """A Wiener filter followed by a polynomial of its output, per output.

    Parameters
    ----------
    degree : int, default=3
        Degree of the static nonlinearity, fitted by least squares
        (:func:`numpy.polyfit`) from the linear stage's in-sample prediction to the target.
    lambdas, cv, gap
        The linear stage's (:class:`WienerFilterRegressor`).

    Attributes
    ----------
    linear_ : WienerFilterRegressor
    poly_ : ndarray, shape (n_outputs, degree + 1)
        Polynomial coefficients, highest power first.

    Examples
    --------
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 3))
    >>> y = np.exp(X[:, 0])  # a monotone nonlinearity of a linear drive
    >>> lin = WienerFilterRegressor().fit(X, y).score(X, y)
    >>> WienerCascadeRegressor().fit(X, y).score(X, y) > lin
    True
    """

    def __init__(self, degree: int = 3, lambdas: Sequence[float] | None = None, cv: int = 5,
                 gap: int = 0) -> None:
        self.degree = degree
        self.lambdas = lambdas
        self.cv = cv
        self.gap = gap

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.three_d_array = True
        return tags

    def fit(self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None
            ) -> WienerCascadeRegressor:
        """Fit the linear stage, then the polynomial on its in-sample prediction.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)
        groups : array-like, optional
            Passed to the linear stage's λ search.

        Returns
        -------
        self
        """
        degree = check_param(self.degree, "degree", Interval(Integral, 1, None))
        X, Y = _xy(self, X, y)
        self.linear_ = WienerFilterRegressor(lambdas=self.lambdas, cv=self.cv, gap=self.gap)
        self.linear_.fit(X, Y, groups=groups)
        lin = self.linear_.predict(X)
        self.poly_ = np.stack([np.polyfit(lin[:, k], Y[:, k], degree) for k in range(Y.shape[1])])
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predict the target.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self, "poly_")
        X = _flat(validate_data(self, X, reset=False, allow_nd=True, dtype=np.float64))
        lin = self.linear_.predict(X)
        out = np.stack([np.polyval(p, lin[:, k]) for k, p in enumerate(self.poly_)], axis=1)
        return _out(self, out)


class KalmanFilterRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Kalman filter decoder (Wu et al. 2003): state = kinematics, features = observations.

    Fit by least squares on the training series in the order given (consecutive samples
    are consecutive time steps): ``A = argmin ||X2 - A X1||``, ``W`` its residual
    covariance divided by ``noise_scale``, ``H = argmin ||Z - H X||``, ``Q`` its residual
    covariance. Prediction filters the test samples in order, starting from the training
    mean with zero uncertainty (as ``neural-decoding``'s ``KalmanFilterDecoder`` does when
    given the mean as the first state).

    Parameters
    ----------
    noise_scale : float, default=1.0
        Divides the state-transition noise ``W`` (``neural-decoding``'s ``C``): > 1 trusts
        the dynamics more, smoothing the output.
    fit_intercept : bool, default=True
        Centre features and targets on their training means (the model has no offsets).

    Attributes
    ----------
    A_, W_, H_, Q_ : ndarray
        Transition (k, k), its noise (k, k), observation (m, k), its noise (m, m).
    x_mean_, z_mean_ : ndarray
        Training means removed (zeros without ``fit_intercept``).

    Notes
    -----
    Samples dropped inside the training series (gaps, or the blocks removed by a blocked
    split) join their neighbours as if consecutive; with few junctions this changes ``A``
    and ``W`` very little.

    Examples
    --------
    >>> from scipy.signal import lfilter
    >>> rng = np.random.default_rng(0)
    >>> v = lfilter([1.0], [1.0, -0.95], rng.normal(size=(400, 2)), axis=0)  # smooth AR(1)
    >>> Z = v @ rng.normal(size=(2, 20)) + 2 * rng.normal(size=(400, 20))
    >>> kf = KalmanFilterRegressor().fit(Z[:300], v[:300])
    >>> kf.predict(Z[300:]).shape, kf.score(Z[300:], v[300:]) > 0.5
    ((100, 2), True)
    """

    def __init__(self, noise_scale: float = 1.0, fit_intercept: bool = True) -> None:
        self.noise_scale = noise_scale
        self.fit_intercept = fit_intercept

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.three_d_array = True
        return tags

    def fit(self, X: ArrayLike, y: ArrayLike) -> KalmanFilterRegressor:
        """Fit ``A, W, H, Q`` by least squares.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)
            Observations, in time order.
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)
            The kinematics (state), in time order.

        Returns
        -------
        self
        """
        scale = check_param(self.noise_scale, "noise_scale",
                            Interval(Real, 0, None, closed="neither"))
        Z, Xs = _xy(self, X, y)
        if Z.shape[0] < 3:
            raise NotEnoughDataError(f"{Z.shape[0]} samples; the Kalman filter needs >= 3.")
        self.x_mean_ = Xs.mean(0) if self.fit_intercept else np.zeros(Xs.shape[1])
        self.z_mean_ = Z.mean(0) if self.fit_intercept else np.zeros(Z.shape[1])
        S, Obs = (Xs - self.x_mean_).T, (Z - self.z_mean_).T  # state (k, n), observed (m, n)
        n = S.shape[1]
        X1, X2 = S[:, :-1], S[:, 1:]
        self.A_ = X2 @ X1.T @ linalg.pinvh(X1 @ X1.T)
        R = X2 - self.A_ @ X1
        self.W_ = R @ R.T / (n - 1) / scale
        self.H_ = Obs @ S.T @ linalg.pinvh(S @ S.T)
        E = Obs - self.H_ @ S
        self.Q_ = E @ E.T / n
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Filter the samples in order and return the state estimates.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self, "A_")
        Z = _flat(validate_data(self, X, reset=False, allow_nd=True, dtype=np.float64))
        Obs = Z - self.z_mean_
        A, W, H = self.A_, self.W_, self.H_
        Qi = linalg.pinvh(self.Q_)
        HtQi = H.T @ Qi  # (k, m)
        info = HtQi @ H  # (k, k)
        innov = Obs @ HtQi.T  # Hᵀ Q⁻¹ z_t for every t, (n, k)
        k = A.shape[0]
        states = np.empty((Obs.shape[0], k))
        state = np.zeros(k)  # the training mean, known exactly (P = 0): no update at t = 0
        P = np.zeros((k, k))
        states[0] = state
        inv = np.linalg.inv
        for t in range(1, Obs.shape[0]):
            P_m = A @ P @ A.T + W
            state_m = A @ state
            # information form: P = (P_m⁻¹ + Hᵀ Q⁻¹ H)⁻¹, gain K = P Hᵀ Q⁻¹ (state-sized
            # inversions only; numpy's inv on a k x k matrix costs microseconds)
            try:
                P = inv(inv(P_m) + info)
            except np.linalg.LinAlgError:  # a singular transition noise W
                P = linalg.pinvh(linalg.pinvh(P_m) + info)
            state = state_m + P @ (innov[t] - info @ state_m)
            states[t] = state
        return _out(self, states + self.x_mean_)
