"""Poisson Bayesian position decoder (place-field model, Zhang et al. 1998).

The hippocampus standard: each feature (a unit, or a (lag, unit) pair of lagged
windows) has a *tuning curve* — its mean count per sample as a function of position,
estimated on a grid of position bins from the training samples (occupancy-normalised,
optionally smoothed with a Gaussian of ``smooth`` bins). Given a test sample's counts
``n``, the posterior over position bins is

    log p(x | n) = Σ_u n_u log f_u(x) − Σ_u f_u(x) + log prior(x) + const,

assuming independent Poisson counts. The prediction is the centre of the most probable
bin (``estimate="map"``) or the posterior mean (``"mean"``); :meth:`predict_posterior`
returns the whole posterior. 1-D and 2-D positions (``y`` with one or two columns).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import SpikeDecodeValueError

__all__ = ["PoissonBayesRegressor"]


class PoissonBayesRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Decode 1-D or 2-D position from spike counts with Poisson place fields.

    Parameters
    ----------
    n_position_bins : int, default=40
        Position bins per dimension, spanning the training positions.
    smooth : float, default=1.0
        Gaussian smoothing of the occupancy and count maps, in position bins (0: none).
    prior : {"uniform", "occupancy"}, default="uniform"
        Prior over the visited position bins: flat, or the training occupancy.
    estimate : {"map", "mean"}, default="map"
        The posterior's mode (bin centre) or mean.
    min_rate : float, default=1e-3
        Floor of the tuning curves (mean count per sample), so that a count in a bin where
        a feature never fired in training is unlikely rather than impossible.

    Attributes
    ----------
    tuning_curves_ : ndarray, shape (n_features, n_bins_total)
        Mean count per sample in each position bin (flattened grid, C order).
    occupancy_ : ndarray, shape (n_bins_total,)
        Training samples per position bin (after smoothing).
    bin_centers_ : ndarray, shape (n_bins_total, n_dims)
    edges_ : list of ndarray
        Bin edges per dimension.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pos = rng.uniform(0, 100, 2000)
    >>> centres = np.linspace(0, 100, 12)
    >>> rates = 3 * np.exp(-0.5 * ((pos[:, None] - centres) / 8) ** 2)
    >>> X = rng.poisson(rates)
    >>> dec = PoissonBayesRegressor().fit(X[:1500], pos[:1500])
    >>> float(np.median(np.abs(dec.predict(X[1500:]) - pos[1500:]))) < 10
    True
    """

    def __init__(self, n_position_bins: int = 40, smooth: float = 1.0, prior: str = "uniform",
                 estimate: str = "map", min_rate: float = 1e-3) -> None:
        self.n_position_bins = n_position_bins
        self.smooth = smooth
        self.prior = prior
        self.estimate = estimate
        self.min_rate = min_rate

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = True
        tags.regressor_tags.poor_score = True  # a place-field model, for counts only
        return tags

    def _counts(self, X: Any, reset: bool) -> NDArray[np.float64]:
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=np.float64)
        X = X.reshape(X.shape[0], -1)
        if X.size and X.min() < 0:
            raise SpikeDecodeValueError(
                f"Negative values in data passed to {type(self).__name__}: X must hold spike "
                f"counts (>= 0); the smallest value is {X.min()}. Pass raw "
                "counts (no standardisation) to the Poisson decoder."
            )
        return X

    def fit(self, X: ArrayLike, y: ArrayLike) -> PoissonBayesRegressor:
        """Estimate the tuning curves on a grid over the training positions.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)
            Spike counts.
        y : array-like, shape (n_samples,) or (n_samples, n_dims) with n_dims in {1, 2}
            Positions.

        Returns
        -------
        self
        """
        from scipy.ndimage import gaussian_filter

        nb = check_param(self.n_position_bins, "n_position_bins", Interval(Integral, 2, None))
        smooth = check_param(self.smooth, "smooth", Interval(Real, 0, None))
        check_param(self.prior, "prior", Options("uniform", "occupancy"))
        check_param(self.estimate, "estimate", Options("map", "mean"))
        floor = check_param(self.min_rate, "min_rate", Interval(Real, 0, None, closed="neither"))
        _, y = validate_data(self, X, y, multi_output=True, y_numeric=True, allow_nd=True,
                             dtype=np.float64)
        X = self._counts(X, reset=False)
        Y = np.asarray(y, dtype=np.float64)
        self._y_1d = Y.ndim == 1
        Y = Y[:, None] if Y.ndim == 1 else Y
        if Y.shape[1] > 2:
            raise SpikeDecodeValueError(
                f"y has {Y.shape[1]} columns; the Poisson position decoder takes 1-D or 2-D "
                "positions."
            )
        self.edges_ = []
        idx = []
        for d in range(Y.shape[1]):
            lo, hi = float(Y[:, d].min()), float(Y[:, d].max())
            if hi <= lo:
                hi = lo + 1.0
            e = np.linspace(lo, hi, nb + 1)
            self.edges_.append(e)
            idx.append(np.clip(np.searchsorted(e, Y[:, d], side="right") - 1, 0, nb - 1))
        shape = (nb,) * Y.shape[1]
        flat = np.ravel_multi_index(tuple(idx), shape)
        n_tot = int(np.prod(shape))
        occ = np.bincount(flat, minlength=n_tot).astype(np.float64)
        sums = np.stack([np.bincount(flat, weights=X[:, j], minlength=n_tot)
                         for j in range(X.shape[1])])
        visited = occ > 0
        if smooth > 0:
            occ = gaussian_filter(occ.reshape(shape), smooth, mode="nearest").ravel()
            sums = np.stack([gaussian_filter(s.reshape(shape), smooth, mode="nearest").ravel()
                             for s in sums])
        with np.errstate(invalid="ignore", divide="ignore"):
            tc = np.where(visited, sums / np.where(occ > 0, occ, 1.0), np.nan)
        self.tuning_curves_ = np.maximum(tc, floor)
        self.occupancy_ = np.where(visited, occ, 0.0)
        centres = [(e[:-1] + e[1:]) / 2 for e in self.edges_]
        grid = np.meshgrid(*centres, indexing="ij")
        self.bin_centers_ = np.stack([g.ravel() for g in grid], axis=1)
        with np.errstate(divide="ignore"):
            self._log_prior = (np.log(self.occupancy_ / self.occupancy_.sum())
                               if self.prior == "occupancy"
                               else np.where(visited, 0.0, -np.inf))
        return self

    def predict_posterior(self, X: ArrayLike) -> NDArray[np.float64]:
        """Posterior over the position bins.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)

        Returns
        -------
        ndarray, shape (n_samples, n_bins_total)
            Rows sum to 1; unvisited bins have probability 0.
        """
        check_is_fitted(self, "tuning_curves_")
        X = self._counts(X, reset=False)
        tc = np.nan_to_num(self.tuning_curves_, nan=1.0)
        logp = X @ np.log(tc) - tc.sum(0) + self._log_prior
        logp -= logp.max(axis=1, keepdims=True)
        p = np.exp(logp)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Decoded position: the posterior's mode (bin centre) or mean.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_dims)
        """
        p = self.predict_posterior(X)
        if self.estimate == "map":
            out = self.bin_centers_[p.argmax(axis=1)]
        else:
            out = p @ self.bin_centers_
        return out[:, 0] if self._y_1d else out
