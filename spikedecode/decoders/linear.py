"""Linear decoders: standardize + logistic regression / linear SVM with a grouped λ search.

``make_decoder("logistic")`` returns a scikit-learn :class:`~sklearn.pipeline.Pipeline`
``StandardScaler -> GroupCVLinearClassifier``. The final step picks the regularization
strength λ on a log grid spanning ``[1e-6, 10**-0.5]`` (11 points, as MATLAB
``fitclinear`` examples do) by cross-validation that keeps each group (trial) on one side
of every split, walking the path from strong to weak regularization with warm starts and
stopping the walk once the CV score has stopped improving (``path_patience``). When the
best λ is on an edge of the grid the walk goes on beyond it (``extend_decades``) and a
``GridEdgeWarning`` says so if it is still on an edge.

λ follows the convention of MATLAB ``fitclinear`` / glmnet: the objective is the *mean*
loss plus ``λ/2 ||w||²``, i.e. scikit-learn's ``C = 1 / (n_samples * λ)`` with
``n_samples`` the size of the data the model is fitted on (each inner-CV fold uses its
own training size, the final refit all samples), so the same λ means the same amount of
shrinkage whatever the number of windows.

How groups reach the inner CV
-----------------------------
``GroupCVLinearClassifier.fit(X, y, groups=None)`` takes ``groups`` as a fit parameter.
Without metadata routing, pass it through a Pipeline as ``pipe.fit(X, y, clf__groups=g)``
(:func:`groups_fit_params` builds that dict for any of our decoders); the scikit-learn
helpers ``cross_val_score(..., params={"clf__groups": g})`` and
``GridSearchCV.fit(X, y, clf__groups=g)`` index it per fold. With
``sklearn.set_config(enable_metadata_routing=True)`` the estimator requests ``groups``
by default, so ``cross_validate(pipe, X, y, params={"groups": g}, cv=GroupKFold())``
routes the same ``groups`` to the outer splitter and to the inner λ search.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import balanced_accuracy_score, get_scorer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from spikedecode.errors import ConfigError, GridEdgeWarning, NotEnoughDataError
from spikedecode.preprocess import resample

__all__ = [
    "DEFAULT_LAMBDAS",
    "GroupCVLinearClassifier",
    "make_decoder",
    "groups_fit_params",
]

#: λ grid of the seed study (MATLAB ``logspace(-6, -0.5, 11)``).
DEFAULT_LAMBDAS: NDArray[np.float64] = np.logspace(-6, -0.5, 11)


class GroupCVLinearClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression or linear SVM with λ chosen by grouped cross-validation.

    The path runs from the largest λ (strongest shrinkage) to the smallest; each fold's
    model is warm-started from the previous λ (logistic), and at the first λ folds 2..k
    start from fold 1's solution (their training sets overlap); the walk stops once the mean CV
    score has not improved for ``path_patience`` consecutive λ (the weakly regularized end
    is the expensive one). The final model is refit on all data at the best λ, warm-started
    from the mean of the fold solutions.

    Parameters
    ----------
    kind : {"logistic", "svm"}, default="logistic"
    lambdas : array-like of float or None, default=None
        λ grid; None means :data:`DEFAULT_LAMBDAS` (``logspace(-6, -0.5, 11)``).
    cv : int or list of (train, test), default=5
        Folds of the inner search (grouped when ``groups`` is passed to ``fit``).
    scoring : str, default="accuracy"
        A scikit-learn scorer name, used to pick λ.
    path_patience : int or None, default=3
        Stop the path after this many λ without improvement; None walks the whole grid.
    max_iter : int, default=100
        lbfgs iterations (logistic); liblinear uses at least 1000 (svm).
    tol : float, default=1e-4
    loss : {"squared_hinge", "hinge"}, default="squared_hinge"
        SVM loss (``kind="svm"`` only). ``"hinge"`` is the seed study's MATLAB
        ``fitclinear`` SVM (hinge loss, bias not penalised), solved by liblinear's dual
        coordinate descent; ``"squared_hinge"`` is liblinear's primal Newton solver:
        much faster and convergent at the weakly regularized end of the grid, but its
        λ is not the study's λ. See docs/decoding.md.
    intercept_scaling : float or None, default=None
        liblinear penalises the bias ``b`` as a weight on a constant feature of value
        ``intercept_scaling`` (``s``), i.e. by ``λ b² / (2 s²)``. None means 10 for the
        hinge loss (bias almost unpenalised, as in ``fitclinear``; larger values slow
        the dual solver without changing the fit measurably) and 1 for the squared hinge
        (scikit-learn's default). svm only.
    class_weight : {"balanced"} or None, default=None
    random_state : int or None, default=None
        Shuffles the folds.
    extend_decades : float, default=3.0
        When the best λ sits on an edge of the grid (strong or weak end), the path is
        walked on beyond that edge, with the grid's spacing, for at most this many decades
        (with the same ``path_patience``); if the best λ is still on an edge a
        :class:`~spikedecode.errors.GridEdgeWarning` is raised, except at the strong edge
        when ``|x·w| < 0.1`` for every training sample (the λ → ∞ limit is reached: a
        larger λ only scales the weights down; ``lambda_on_edge_`` is still True). 0 never extends (the warning still comes). A one-point grid is never
        extended.

    Attributes
    ----------
    lambda_ : float
        Selected λ.
    lambda_extended_ : {"strong", "weak"} or None
        Which end of the grid was extended (None: the best λ was inside the grid).
    lambda_on_edge_ : bool
        The selected λ is on an edge of the final (possibly extended) grid.
    C_ : float
        ``1 / (n_samples * lambda_)``.
    lambdas_ : ndarray
        The grid walked, descending, extension included.
    cv_scores_ : ndarray (n_folds, n_lambdas)
        Validation scores along ``lambdas_`` (NaN where the walk stopped).
    estimator_ : LogisticRegression or LinearSVC
        Refit on all data at ``lambda_``.
    n_iter_ : ndarray
        Iterations of the final refit.
    classes_, coef_, intercept_, n_features_in_

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = (X[:, 0] + 0.5 * rng.normal(size=200) > 0)
    >>> clf = GroupCVLinearClassifier(random_state=0).fit(X, y, groups=np.arange(200) // 4)
    >>> bool(1e-6 <= clf.lambda_ <= 10**-0.5), clf.score(X, y) > 0.8
    (True, True)
    """

    # with metadata routing enabled, ``groups`` is requested by default
    __metadata_request__fit = {"groups": True}

    def __init__(
        self,
        *,
        kind: str = "logistic",
        lambdas: Sequence[float] | None = None,
        cv: Any = 5,
        scoring: str = "accuracy",
        path_patience: int | None = 3,
        max_iter: int = 100,
        tol: float = 1e-4,
        loss: str = "squared_hinge",
        intercept_scaling: float | None = None,
        class_weight: Any = None,
        random_state: Any = None,
        extend_decades: float = 3.0,
    ) -> None:
        self.kind = kind
        self.lambdas = lambdas
        self.cv = cv
        self.scoring = scoring
        self.path_patience = path_patience
        self.max_iter = max_iter
        self.tol = tol
        self.loss = loss
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.extend_decades = extend_decades

    def _check_params(self) -> NDArray[np.float64]:
        if self.kind not in ("logistic", "svm"):
            raise ConfigError(f"kind == {self.kind!r}, must be 'logistic' or 'svm'.")
        lambdas = DEFAULT_LAMBDAS if self.lambdas is None else np.asarray(self.lambdas, float)
        if lambdas.ndim != 1 or lambdas.size == 0 or not np.all(lambdas > 0):
            raise ConfigError(f"lambdas == {self.lambdas!r}, must be a non-empty 1-D grid > 0.")
        if (isinstance(self.extend_decades, bool) or not isinstance(self.extend_decades, Real)
                or not self.extend_decades >= 0):
            raise ConfigError(f"extend_decades == {self.extend_decades!r}, must be a number "
                              ">= 0 (0 never extends the λ grid).")
        if self.path_patience is not None and self.path_patience < 1:
            raise ConfigError(f"path_patience == {self.path_patience}, must be >= 1 or None.")
        if self.loss not in ("squared_hinge", "hinge"):
            raise ConfigError(f"loss == {self.loss!r}, must be 'squared_hinge' or 'hinge' "
                              "(the SVM loss; 'hinge' is MATLAB fitclinear's).")
        if self.intercept_scaling is not None and not self.intercept_scaling > 0:
            raise ConfigError(f"intercept_scaling == {self.intercept_scaling!r}, must be > 0 "
                              "or None.")
        return np.sort(lambdas)[::-1]

    def _make(self, C: float) -> Any:
        if self.kind == "logistic":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=C, max_iter=self.max_iter, tol=self.tol,
                                      class_weight=self.class_weight, warm_start=True)
        from sklearn.svm import LinearSVC

        hinge = self.loss == "hinge"
        scaling = self.intercept_scaling
        if scaling is None:
            scaling = 10.0 if hinge else 1.0
        # liblinear solves the hinge loss only in the dual, whose coordinate descent
        # visits samples in a random order: seed it for reproducible fits
        return LinearSVC(C=C, loss=self.loss, dual=True if hinge else "auto",
                         intercept_scaling=scaling, max_iter=max(self.max_iter, 1000),
                         tol=self.tol, class_weight=self.class_weight,
                         random_state=self.random_state)

    def _extension(self, lambdas: NDArray[np.float64], best_j: int
                   ) -> tuple[str, NDArray[np.float64]] | None:
        """``(side, grid)`` to walk beyond an edge holding the best λ, or None.

        ``grid`` continues the grid's log spacing (one decade per step for a one-point grid)
        outward from the edge for at most ``extend_decades`` decades, in walking order.
        """
        if not self.extend_decades or len(lambdas) < 2 or best_j not in (0, len(lambdas) - 1):
            return None  # a one-point grid is the user's fixed λ: never extended
        if len(lambdas) > 1:
            step = float(np.log10(lambdas[0] / lambdas[-1]) / (len(lambdas) - 1))
        else:
            step = 1.0
        if not step > 0:
            return None
        n_ext = max(1, int(np.floor(self.extend_decades / step + 1e-9)))
        k = np.arange(1, n_ext + 1)
        if best_j == 0:
            return "strong", lambdas[0] * 10.0 ** (step * k)
        return "weak", lambdas[-1] * 10.0 ** (-step * k)

    def _walk(self, grid: NDArray[np.float64], first: bool, folds: list[Any], models: list[Any],
              n_splits: int, scorer: Any, coefs: dict[float, list[Any]]
              ) -> tuple[NDArray[np.float64], int]:
        """Scores (n_splits, len(grid)) along ``grid`` (walked in order, warm-started, stopped
        after ``path_patience`` λ without improvement) and the index of the best λ; each
        λ's fold solutions go to ``coefs``. ``scorer`` None: accuracy or balanced accuracy
        computed from the coefficients directly."""
        fast = scorer is None
        sc = np.full((n_splits, len(grid)), np.nan)
        best, best_j, wait = -np.inf, 0, 0
        for j, lam in enumerate(grid):
            if not folds:
                break
            fold_coefs = []
            for k, (X_tr, y_tr, X_te, y_te) in enumerate(folds):
                m = models[k].set_params(C=1.0 / (len(y_tr) * lam))
                if first and j == 0 and k > 0 and self.kind == "logistic":
                    # folds overlap in 1 - 2/n_folds of their data: start every fold's
                    # path from fold 0's first solution instead of from zero
                    m.coef_ = models[0].coef_.copy()
                    m.intercept_ = np.array(models[0].intercept_, copy=True)
                m.fit(X_tr, y_tr)
                if fast:
                    pred = m.classes_[np.argmax(_decision(m, X_te), axis=1)]
                    sc[k, j] = (balanced_accuracy_score(y_te, pred)
                                if self.scoring == "balanced_accuracy"
                                else float(np.mean(pred == y_te)))
                else:
                    sc[k, j] = scorer(m, X_te, y_te)
                fold_coefs.append((m.coef_.copy(), np.array(m.intercept_, copy=True),
                                   m.classes_))
            coefs[float(lam)] = fold_coefs
            mean = np.nanmean(sc[:, j]) if np.isfinite(sc[:, j]).any() else -np.inf
            if mean > best + 1e-12:
                best, best_j, wait = mean, j, 0
            else:
                wait += 1
                if self.path_patience is not None and wait >= self.path_patience:
                    break
        return sc, best_j


    @staticmethod
    def _extend(ext: tuple[str, NDArray[np.float64]], lambdas: NDArray[np.float64],
                scores: NDArray[np.float64], best_j: int,
                walked: tuple[NDArray[np.float64], int]
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
        """Merge the walk beyond an edge into the (descending) grid, its scores and best j.

        The edge was the best so far, so a λ beyond it must beat it strictly.
        """
        side, grid = ext
        sc_ext, j_ext = walked
        best_score = np.nanmean(scores[:, best_j])
        ext_mean = (np.nanmean(sc_ext[:, j_ext]) if np.isfinite(sc_ext[:, j_ext]).any()
                    else -np.inf)
        better = ext_mean > best_score + 1e-12
        if side == "strong":  # grid holds larger λ, ascending: reverse and prepend
            lambdas = np.concatenate([grid[::-1], lambdas])
            scores = np.hstack([sc_ext[:, ::-1], scores])
            return lambdas, scores, (len(grid) - 1 - j_ext) if better else len(grid) + best_j
        # smaller λ, descending: append
        lambdas = np.concatenate([lambdas, grid])
        scores = np.hstack([scores, sc_ext])
        return lambdas, scores, (len(lambdas) - len(grid) + j_ext) if better else best_j

    def fit(self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None
            ) -> GroupCVLinearClassifier:
        """Search λ by grouped CV and refit on all data.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
            Training features.
        y : array-like (n_samples,)
            Class labels.
        groups : array-like (n_samples,), optional
            Trial ids for the inner CV (windows of one trial never on both sides).

        Returns
        -------
        self : GroupCVLinearClassifier
            The fitted classifier.
        """
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        lambdas = self._check_params()
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))  # keep float32
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise NotEnoughDataError(
                f"y has 1 class ({self.classes_.tolist()}); a classifier needs 2 or more."
            )
        n = len(y)
        if isinstance(self.cv, (int, np.integer)):
            try:
                splits = resample.group_splits(y, groups, int(self.cv), self.random_state)
            except NotEnoughDataError:
                splits = []
        else:
            splits = [(np.asarray(tr), np.asarray(te)) for tr, te in
                      (self.cv.split(X, y, groups) if hasattr(self.cv, "split") else self.cv)]
        # Encode labels once and slice each fold once: refitting along the path then costs
        # only the solver (no per-λ copies, label encoding or scorer validation).
        y_enc = np.searchsorted(self.classes_, y)
        folds = []
        for tr, te in splits:
            if len(np.unique(y_enc[tr])) < 2:
                continue
            folds.append((np.ascontiguousarray(X[tr]), y_enc[tr], np.ascontiguousarray(X[te]),
                          y_enc[te]))
        fast = self.scoring in ("accuracy", "balanced_accuracy")
        scorer = None if fast else get_scorer(self.scoring)
        # each fold applies λ to its *own* mean loss: C = 1 / (n_train_fold · λ), so that
        # cv_scores_[:, j] really is the score at lambdas_[j] (as MATLAB fitclinear does)
        models = [self._make(1.0 / (len(f[1]) * lambdas[0])) for f in folds]
        coefs: dict[float, list[Any]] = {}

        with warnings.catch_warnings(), config_context(assume_finite=True):
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores, best_j = self._walk(lambdas, True, folds, models, len(splits), scorer, coefs)
            extended = None
            ext = self._extension(lambdas, best_j) if folds else None
            if ext is not None:
                extended = ext[0]
                lambdas, scores, best_j = self._extend(
                    ext, lambdas, scores, best_j,
                    self._walk(ext[1], False, folds, models, len(splits), scorer, coefs))
        self.lambdas_ = lambdas
        self.cv_scores_ = scores
        self.lambda_ = float(lambdas[best_j])
        self.lambda_extended_ = extended
        self.lambda_on_edge_ = bool(folds) and len(lambdas) > 1 and best_j in (
            0, len(lambdas) - 1)
        self.C_ = float(1.0 / (n * lambdas[best_j]))  # the refit sees all n samples
        est = self._make(self.C_)
        full = np.arange(len(self.classes_))
        same = [c for c in coefs.get(self.lambda_, []) if np.array_equal(c[2], full)]
        if self.kind == "logistic" and same:
            # warm start the refit from the mean fold solution (as LogisticRegressionCV)
            est.coef_ = np.mean([c[0] for c in same], axis=0)
            est.intercept_ = np.mean([c[1] for c in same], axis=0)
        # outside the catch_warnings block: a ConvergenceWarning of the model the user
        # gets must reach the user (only the exploratory path walk is silenced)
        with config_context(assume_finite=True):
            est.fit(X, y_enc)
        # the final model speaks the original labels
        est.classes_ = self.classes_
        self.estimator_ = est
        self.n_iter_ = np.atleast_1d(est.n_iter_).astype(int)
        self.coef_ = est.coef_
        self.intercept_ = est.intercept_
        # at the strong edge, once every |x·w| is small the path has reached its λ → ∞
        # limit (w only shrinks, its direction is fixed): nothing beyond the grid to find
        if self.lambda_on_edge_ and not (best_j == 0 and _shrunk(est, X)):
            how = (f"even after extending it by {self.extend_decades:g} decade(s)" if extended
                   else "and extend_decades == 0")
            warnings.warn(
                f"the chosen λ = {self.lambda_:.3g} is on the "
                f"{'strong' if best_j == 0 else 'weak'} edge of the λ grid "
                f"[{lambdas.min():.3g}, {lambdas.max():.3g}], {how}: the best λ may lie "
                "beyond. Pass a wider `lambdas` grid (or a larger `extend_decades`).",
                GridEdgeWarning, stacklevel=2,
            )
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Signed distance to the hyperplane(s).

        Parameters
        ----------
        X : array-like (n_samples, n_features)
            Samples to score.

        Returns
        -------
        ndarray (n_samples,) or (n_samples, n_classes)
            One score per sample for two classes (positive: ``classes_[1]``), else one per
            class.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.estimator_.decision_function(X)

    def predict(self, X: ArrayLike) -> NDArray:
        """Predicted class of each sample.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
            Samples to classify.

        Returns
        -------
        ndarray (n_samples,)
            One of ``classes_`` per sample.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.estimator_.predict(X)

    def _has_proba(self) -> bool:
        return self.kind == "logistic"

    @available_if(_has_proba)
    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities (logistic only).

        Parameters
        ----------
        X : array-like (n_samples, n_features)
            Samples to classify.

        Returns
        -------
        ndarray (n_samples, n_classes)
            Probabilities in the order of ``classes_``; each row sums to 1.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.estimator_.predict_proba(X)


def _shrunk(model: Any, X: NDArray, tol: float = 0.1) -> bool:
    """True when ``|X @ w| < tol`` for every sample: the loss is in its linear regime,
    where a larger λ only scales ``w`` down (its direction, the class-mean difference,
    no longer changes), so the strong end of the path has reached its limit."""
    return bool(np.abs(np.asarray(X @ model.coef_.T)).max() < tol)


def _decision(model: Any, X: NDArray) -> NDArray:
    """(n, n_classes) scores of a fitted linear model without input re-validation."""
    z = X @ model.coef_.T + model.intercept_
    if z.shape[1] == 1:
        z = np.hstack([-z, z])
    return z


def make_decoder(
    kind: str = "logistic",
    *,
    lambdas: Sequence[float] | None = None,
    cv: Any = 5,
    scoring: str = "accuracy",
    path_patience: int | None = 3,
    max_iter: int = 100,
    class_weight: Any = None,
    random_state: Any = None,
    standardize: bool = True,
    **params: Any,
) -> Any:
    """Build a decoder by name.

    Parameters
    ----------
    kind : {"logistic", "svm", "mlp", "lstm", "wiener", "wiener_cascade", "kalman", \
"poisson_bayes", "lstm_regression", "gru_regression"}, default="logistic"
        ``"logistic"``/``"svm"`` give a Pipeline ``("scale", StandardScaler())`` ->
        ``("clf", GroupCVLinearClassifier)``; ``"mlp"``/``"lstm"`` give
        :class:`MLPDecoder` / :class:`LSTMDecoder` built with ``params``. The regressors
        for continuous targets: ``"wiener"`` / ``"wiener_cascade"`` give
        ``("scale", StandardScaler())`` -> ``("reg", WienerFilterRegressor)`` /
        ``WienerCascadeRegressor`` (λ by blocked CV over ``lambdas``, ``cv`` blocks),
        ``"kalman"`` a :class:`~spikedecode.decoders.regression.KalmanFilterRegressor`,
        ``"poisson_bayes"`` a :class:`~spikedecode.decoders.bayes.PoissonBayesRegressor`
        (place-field decoder on raw counts), ``"lstm_regression"`` / ``"gru_regression"``
        a :class:`~spikedecode.decoders.recurrent.RecurrentRegressor`.
    lambdas, cv, scoring, path_patience, max_iter, class_weight
        See :class:`GroupCVLinearClassifier` (linear kinds only).
    random_state : int or None
    standardize : bool, default=True
        Prepend a StandardScaler (linear kinds).
    **params
        Linear kinds: any other :class:`GroupCVLinearClassifier` parameter (``tol``,
        ``loss="hinge"`` for the study's SVM, ``intercept_scaling``); torch kinds: the
        decoder's parameters
        (``max_epochs``, ``hidden_size`` ...). An unknown name raises ConfigError.

    Returns
    -------
    estimator
        Fit it with ``est.fit(X, y, **groups_fit_params(est, groups))``.

    Examples
    --------
    >>> pipe = make_decoder("logistic", random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['scale', 'clf']
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if kind in ("logistic", "svm"):
        if not (class_weight is None or class_weight == "balanced"
                or isinstance(class_weight, dict)):
            # checked here, not first at fit: a typo should fail where it was written
            raise ConfigError(f"class_weight == {class_weight!r}, must be None, 'balanced' or a "
                              "dict {class: weight}.")
        unknown = sorted(set(params) - set(GroupCVLinearClassifier().get_params()))
        if unknown:
            raise ConfigError(
                f"{unknown} are not parameters of the {kind!r} decoder; pass "
                "GroupCVLinearClassifier parameters only (tol, loss, intercept_scaling ...)."
            )
        clf = GroupCVLinearClassifier(kind=kind, lambdas=lambdas, cv=cv, scoring=scoring,
                                      path_patience=path_patience, max_iter=max_iter,
                                      class_weight=class_weight, random_state=random_state,
                                      **params)
        steps = ([("scale", StandardScaler())] if standardize else []) + [("clf", clf)]
        return Pipeline(steps)
    if kind == "mlp":
        from spikedecode.decoders.mlp import MLPDecoder

        return MLPDecoder(random_state=random_state, **params)
    if kind == "lstm":
        from spikedecode.decoders.lstm import LSTMDecoder

        return LSTMDecoder(random_state=random_state, **params)
    if kind in _REGRESSORS:
        return _make_regressor(kind, lambdas=lambdas, cv=cv, standardize=standardize,
                               random_state=random_state, **params)
    raise ConfigError(f"kind == {kind!r}, must be one of 'logistic', 'svm', 'mlp', 'lstm', "
                      + ", ".join(repr(k) for k in _REGRESSORS) + ".")


#: the continuous-target kinds of make_decoder (spikedecode.decoders.regression, .bayes)
_REGRESSORS = ("wiener", "wiener_cascade", "kalman", "poisson_bayes", "lstm_regression",
               "gru_regression")


def _make_regressor(kind: str, *, lambdas: Any, cv: Any, standardize: bool,
                    random_state: Any, **params: Any) -> Any:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from spikedecode.decoders.bayes import PoissonBayesRegressor
    from spikedecode.decoders.recurrent import RecurrentRegressor
    from spikedecode.decoders.regression import (
        KalmanFilterRegressor,
        WienerCascadeRegressor,
        WienerFilterRegressor,
    )

    cls: Any = {"wiener": WienerFilterRegressor,
                "wiener_cascade": WienerCascadeRegressor,
                "kalman": KalmanFilterRegressor,
                "poisson_bayes": PoissonBayesRegressor,
                "lstm_regression": RecurrentRegressor,
                "gru_regression": RecurrentRegressor}[kind]
    if kind in ("lstm_regression", "gru_regression"):  # the network standardises itself
        params = {"cell": kind.split("_")[0], "standardize": standardize,
                  "random_state": random_state, **params}
    if kind in ("wiener", "wiener_cascade"):
        params = {"lambdas": lambdas, "cv": 5 if cv is None else cv, **params}
    elif lambdas is not None:
        raise ConfigError(f"lambdas is a parameter of the 'wiener' kinds, not of {kind!r}.")
    unknown = sorted(set(params) - set(cls().get_params()))
    if unknown:
        raise ConfigError(f"{unknown} are not parameters of the {kind!r} decoder "
                          f"({cls.__name__}: {sorted(cls().get_params())}).")
    reg = cls(**params)
    # the Kalman filter is invariant to affine maps of its features, and the Poisson model
    # needs raw counts: only the ridge kinds are standardised
    if standardize and kind in ("wiener", "wiener_cascade"):
        return Pipeline([("scale", StandardScaler()), ("reg", reg)])
    return reg


def _accepts_groups(est: Any) -> bool:
    import inspect

    try:
        return "groups" in inspect.signature(est.fit).parameters
    except (TypeError, ValueError):
        return False


def groups_fit_params(estimator: Any, groups: ArrayLike | None) -> dict[str, Any]:
    """The ``fit`` keyword arguments that deliver ``groups`` to ``estimator``'s inner CV.

    ``{"groups": g}`` for an estimator whose ``fit`` takes ``groups``;
    ``{"<last step>__groups": g}`` for a Pipeline ending in one; ``{}`` otherwise.

    Parameters
    ----------
    estimator : estimator or Pipeline
        The decoder about to be fitted.
    groups : array-like (n_samples,) or None
        Trial ids; ``None`` gives ``{}``.

    Returns
    -------
    dict of str to array-like
        Keyword arguments for ``estimator.fit(X, y, **kwargs)``.

    Examples
    --------
    >>> groups_fit_params(make_decoder("svm"), [0, 0, 1])
    {'clf__groups': [0, 0, 1]}
    >>> from sklearn.linear_model import LogisticRegression
    >>> groups_fit_params(LogisticRegression(), [0, 0, 1])  # fit takes no groups
    {}
    """
    if groups is None:
        return {}
    steps = getattr(estimator, "steps", None)
    if steps:
        name, last = steps[-1]
        inner = groups_fit_params(last, groups)
        return {f"{name}__{k}": v for k, v in inner.items()}
    if _accepts_groups(estimator):
        return {"groups": groups}
    return {}


