"""Meta-estimators over the ``lag`` (time) axis: one decoder per time point.

The shape of MNE-Python's ``SlidingEstimator`` / ``GeneralizingEstimator``, on
spikedecode's Windows layout: ``X`` is ``(n_samples, n_lags, n_features)`` (time before
units, as :func:`spikedecode.preprocess.to_sequences` returns it; MNE puts time last).

* :class:`SlidingEstimator` fits a clone of ``estimator`` on every lag ``X[:, t, :]`` and
  predicts each lag with its own decoder: ``predict`` gives ``(n_samples, n_lags)``.
* :class:`GeneralizingEstimator` fits the same decoders and tests each of them on every
  lag: ``predict`` gives ``(n_samples, n_train_lags, n_test_lags)``; its diagonal is the
  :class:`SlidingEstimator`'s prediction.

Scores, confidence bands and cluster tests over time live in
:mod:`spikedecode.evaluation.temporal`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from spikedecode.errors import SpikeDecodeValueError

__all__ = ["SlidingEstimator", "GeneralizingEstimator"]


def _check_3d(X: ArrayLike, name: str) -> NDArray[Any]:
    arr = np.asarray(X)
    if arr.ndim != 3:
        raise SpikeDecodeValueError(
            f"X must be 3-D (n_samples, n_lags, n_features) for {name}; got shape "
            f"{arr.shape}. Build it with spikedecode.preprocess.to_sequences(windows)."
        )
    return arr


class SlidingEstimator(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """One clone of ``estimator`` per lag (time point), each fitted and tested at its lag.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Cloned once per lag; e.g. ``make_decoder("logistic")`` or a
        ``LogisticRegression``. A decoder with an inner grouped search receives the
        ``groups`` given to :meth:`fit`.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted decoder of each lag.
    classes_ : ndarray
        The class labels.
    n_lags_ : int
        Lags seen in :meth:`fit`.
    n_features_in_ : int
        Features per lag.

    See Also
    --------
    GeneralizingEstimator : test every lag's decoder on every other lag.
    spikedecode.evaluation.time_resolved_scores : leakage-safe CV scores over time.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(40) % 2
    >>> X = rng.normal(size=(40, 3, 2)); X[:, 2, 0] += 3 * y  # signal at lag 2 only
    >>> est = SlidingEstimator(LogisticRegression()).fit(X, y)
    >>> est.predict(X).shape, [round(float(s), 1) for s in est.score(X, y)][2]
    ((40, 3), 1.0)
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def _fit_params(self, est: Any, groups: ArrayLike | None) -> dict[str, Any]:
        from spikedecode.decoders.linear import groups_fit_params

        return groups_fit_params(est, groups)

    def fit(self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None
            ) -> SlidingEstimator:
        """Fit one clone of ``estimator`` on every lag.

        Parameters
        ----------
        X : array (n_samples, n_lags, n_features)
            The samples, lag by lag.
        y : array-like (n_samples,)
            Labels.
        groups : array-like (n_samples,), optional
            Trial ids, passed to decoders with an inner grouped search.

        Returns
        -------
        self
        """
        X = _check_3d(X, type(self).__name__)
        y = np.asarray(y)
        if len(y) != X.shape[0]:
            raise SpikeDecodeValueError(f"X has {X.shape[0]} samples but y has {len(y)}.")
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        self.n_lags_ = X.shape[1]
        self.n_features_in_ = X.shape[2]
        self.estimators_ = []
        for t in range(self.n_lags_):
            est = clone(self.estimator)
            est.fit(X[:, t, :], y, **self._fit_params(est, groups))
            self.estimators_.append(est)
        return self

    def _check(self, X: ArrayLike) -> NDArray[Any]:
        check_is_fitted(self, "estimators_")
        X = _check_3d(X, type(self).__name__)
        if X.shape[2] != self.n_features_in_:
            raise SpikeDecodeValueError(
                f"X has {X.shape[2]} features per lag, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        return X

    def _sliding(self, X: ArrayLike, method: str) -> NDArray[Any]:
        X = self._check(X)
        if X.shape[1] != self.n_lags_:
            raise SpikeDecodeValueError(
                f"X has {X.shape[1]} lags but SlidingEstimator was fitted on {self.n_lags_}; "
                "use GeneralizingEstimator to test on other lags."
            )
        outs = [getattr(est, method)(X[:, t, :]) for t, est in enumerate(self.estimators_)]
        return np.stack(outs, axis=1)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Each lag's prediction by that lag's decoder: shape ``(n_samples, n_lags)``.

        Parameters
        ----------
        X : array (n_samples, n_lags, n_features)

        Returns
        -------
        ndarray (n_samples, n_lags)
        """
        return self._sliding(X, "predict")

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities at each lag: shape ``(n_samples, n_lags, n_classes)``.

        Parameters
        ----------
        X : array (n_samples, n_lags, n_features)

        Returns
        -------
        ndarray (n_samples, n_lags, n_classes)
        """
        return self._sliding(X, "predict_proba")

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: Any = None) -> NDArray[Any]:
        """Accuracy at each lag: shape ``(n_lags,)``.

        Parameters
        ----------
        X : array (n_samples, n_lags, n_features)
        y : array-like (n_samples,)
        sample_weight : ignored

        Returns
        -------
        ndarray (n_lags,)
        """
        pred = self.predict(X)
        return (pred == np.asarray(y)[:, None]).mean(axis=0)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


class GeneralizingEstimator(SlidingEstimator):
    """Temporal generalization: each lag's decoder tested on every lag.

    Fitting is the :class:`SlidingEstimator`'s (one decoder per lag, the same clones);
    prediction tests every decoder on every lag, so ``predict(X)[:, t, t]`` equals
    ``SlidingEstimator.predict(X)[:, t]``.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Cloned once per training lag.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted decoder of each training lag.
    classes_ : ndarray
        The class labels.
    n_lags_ : int
        Training lags.
    n_features_in_ : int
        Features per lag.

    See Also
    --------
    spikedecode.evaluation.temporal_generalization : leakage-safe CV scores of the
        train-time x test-time matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(40) % 2
    >>> X = rng.normal(size=(40, 3, 2)); X[:, 1:, 0] += 4 * y[:, None]  # lags 1 and 2
    >>> est = GeneralizingEstimator(LogisticRegression()).fit(X, y)
    >>> est.predict(X).shape, bool(est.score(X, y)[1, 2] > 0.8 > est.score(X, y)[0, 2])
    ((40, 3, 3), True)
    """

    def _generalizing(self, X: ArrayLike, method: str) -> NDArray[Any]:
        X = self._check(X)
        n, n_test, n_feat = X.shape
        flat = X.reshape(n * n_test, n_feat)  # every test lag in one call per decoder
        outs = []
        for est in self.estimators_:
            out = np.asarray(getattr(est, method)(flat))
            outs.append(out.reshape(n, n_test, *out.shape[1:]))
        return np.stack(outs, axis=1)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Predictions of each training lag's decoder at every test lag.

        Parameters
        ----------
        X : array (n_samples, n_test_lags, n_features)

        Returns
        -------
        ndarray (n_samples, n_train_lags, n_test_lags)
        """
        return self._generalizing(X, "predict")

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities of each training lag's decoder at every test lag.

        Parameters
        ----------
        X : array (n_samples, n_test_lags, n_features)

        Returns
        -------
        ndarray (n_samples, n_train_lags, n_test_lags, n_classes)
        """
        return self._generalizing(X, "predict_proba")

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: Any = None) -> NDArray[Any]:
        """Accuracy of each training lag's decoder at each test lag.

        Parameters
        ----------
        X : array (n_samples, n_test_lags, n_features)
        y : array-like (n_samples,)
        sample_weight : ignored

        Returns
        -------
        ndarray (n_train_lags, n_test_lags)
        """
        pred = self.predict(X)
        return (pred == np.asarray(y)[:, None, None]).mean(axis=0)
