"""Linear decoders: the grouped λ search."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GroupKFold, cross_validate

from spikedecode.decoders import (
    DEFAULT_LAMBDAS,
    GroupCVLinearClassifier,
    group_splits,
    groups_fit_params,
    make_decoder,
)
from spikedecode.errors import ConfigError, NotEnoughDataError


def _trials(seed=0, n_trials=30, per=8, signal=1.0, n_feat=6):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_trials), per)
    y = np.repeat(np.where(np.arange(n_trials) % 2, "touch/LUM", "touch/LBR"), per)
    X = rng.normal(size=(len(y), n_feat))
    X[:, 0] += signal * (y == "touch/LUM")
    return X, y, groups


def test_default_grid_is_seed_grid():
    assert DEFAULT_LAMBDAS[0] == pytest.approx(1e-6)
    assert DEFAULT_LAMBDAS[-1] == pytest.approx(10 ** -0.5)
    assert len(DEFAULT_LAMBDAS) == 11


@pytest.mark.parametrize("kind", ["logistic", "svm"])
def test_lambda_search_learns_and_stays_on_grid(kind, global_random_seed):
    X, y, g = _trials(global_random_seed)
    pipe = make_decoder(kind, random_state=global_random_seed)
    pipe.fit(X, y, **groups_fit_params(pipe, g))
    clf = pipe[-1]
    assert clf.lambda_ in DEFAULT_LAMBDAS
    assert clf.C_ == pytest.approx(1.0 / (len(y) * clf.lambda_))
    assert pipe.score(X, y) > 0.6
    assert set(pipe.predict(X)) <= {"touch/LUM", "touch/LBR"}


def test_strong_signal_prefers_weak_shrinkage_noise_prefers_strong():
    X, y, g = _trials(0, signal=4.0)
    strong = GroupCVLinearClassifier(path_patience=None, random_state=0).fit(X, y, groups=g)
    rng = np.random.default_rng(1)
    y_null = np.repeat(rng.permutation(np.repeat(["a", "b"], 15)), 8)
    null = GroupCVLinearClassifier(path_patience=None, random_state=0).fit(X, y_null, groups=g)
    assert strong.lambda_ < null.lambda_ or null.lambda_ == DEFAULT_LAMBDAS.max()


def test_path_early_exit_walks_fewer_lambdas_same_choice():
    X, y, g = _trials(0, signal=0.8)
    early = GroupCVLinearClassifier(path_patience=2, random_state=0).fit(X, y, groups=g)
    full = GroupCVLinearClassifier(path_patience=None, random_state=0).fit(X, y, groups=g)
    walked = np.isfinite(early.cv_scores_).any(0).sum()
    assert np.isfinite(full.cv_scores_).all()
    assert walked <= len(DEFAULT_LAMBDAS)
    # the early walk picks the best lambda among those it visited
    best_full_visited = np.nanargmax(np.nanmean(full.cv_scores_[:, :walked], 0))
    assert early.lambda_ == full.lambdas_[best_full_visited]


def test_group_splits_never_share_a_trial():
    _, y, g = _trials(0)
    for tr, te in group_splits(y, g, 5, random_state=0):
        assert set(g[tr]).isdisjoint(g[te])
    with pytest.raises(NotEnoughDataError, match="group"):
        group_splits(np.array(["a"] * 4 + ["b"] * 4), np.array([0] * 4 + [1] * 4), 5)


def test_inner_cv_receives_groups(monkeypatch):
    """The inner search must be given the trial ids (else it would leak)."""
    X, y, g = _trials(0)
    seen = {}
    import spikedecode.decoders.linear as lin

    real = lin.group_splits

    def spy(y_, groups, *a, **k):
        seen["groups"] = groups
        return real(y_, groups, *a, **k)

    monkeypatch.setattr(lin, "group_splits", spy)
    pipe = make_decoder("logistic")
    pipe.fit(X, y, **groups_fit_params(pipe, g))
    np.testing.assert_array_equal(seen["groups"], g)


def test_metadata_routing_reaches_inner_search(monkeypatch):
    X, y, g = _trials(0)
    import spikedecode.decoders.linear as lin

    calls = []
    real = lin.group_splits
    monkeypatch.setattr(lin, "group_splits",
                        lambda y_, groups, *a, **k: calls.append(groups) or real(y_, groups, *a, **k))
    with sklearn.config_context(enable_metadata_routing=True):
        res = cross_validate(make_decoder("logistic"), X, y, params={"groups": g},
                             cv=GroupKFold(3))
    assert len(calls) == 3 and all(c is not None for c in calls)
    assert res["test_score"].mean() > 0.6


@pytest.mark.parametrize("kw, match", [
    ({"kind": "tree"}, "kind"),
    ({"lambdas": [-1.0]}, "lambdas"),
    ({"path_patience": 0}, "path_patience"),
])
def test_bad_params(kw, match):
    X, y, g = _trials(0)
    with pytest.raises(ConfigError, match=match):
        GroupCVLinearClassifier(**kw).fit(X, y, groups=g)


def test_make_decoder_errors():
    with pytest.raises(ConfigError, match="kind"):
        make_decoder("forest")
    with pytest.raises(ConfigError, match="hidden_size"):
        make_decoder("logistic", hidden_size=3)


def test_svm_has_no_proba_logistic_has():
    X, y, g = _trials(0)
    svm = make_decoder("svm").fit(X, y, clf__groups=g)
    assert not hasattr(svm, "predict_proba")
    lr = make_decoder("logistic").fit(X, y, clf__groups=g)
    p = lr.predict_proba(X)
    np.testing.assert_allclose(p.sum(1), 1.0)


def test_fold_models_use_their_own_training_size():
    """λ means λ in every fold: C = 1 / (len(train_fold) · λ), not 1 / (n_full · λ).

    Audit defect D2 (science-audit/defect_lambda_fold.py): with n_full the folds were
    regularised by λ · n_full / n_fold (x1.25 for 5 folds) but labelled λ.
    """
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n_tr, per, p = 60, 8, 40
    y_t = rng.integers(0, 2, n_tr)
    W = rng.normal(size=(2, p))
    X = np.concatenate([0.35 * W[y_t[i]] + 0.8 * rng.normal(size=p) + rng.normal(size=(per, p))
                        for i in range(n_tr)])
    X = (X - X.mean(0)) / X.std(0)
    y, g = np.repeat(y_t, per), np.repeat(np.arange(n_tr), per)
    splits = group_splits(y, g, 5, random_state=0)
    n = len(y)
    # λ = 0.01 is where the audit saw fold scores differ between the two conventions
    lam = 0.01
    clf = GroupCVLinearClassifier(cv=splits, lambdas=[lam], max_iter=10_000, tol=1e-10).fit(X, y)
    own, full = [], []
    for tr, te in splits:
        for C, out in ((1 / (len(tr) * lam), own), (1 / (n * lam), full)):
            m = LogisticRegression(C=C, max_iter=10_000, tol=1e-10).fit(X[tr], y[tr])
            out.append(np.mean(m.predict(X[te]) == y[te]))
    # both solvers converge to tol=1e-10 on the same strictly convex problem, so the
    # predictions (hence the scores) agree; 1e-9 absorbs float summation order only
    np.testing.assert_allclose(clf.cv_scores_[:, 0], own, atol=1e-9)
    assert not np.allclose(own, full)  # the data distinguish the two conventions
    # the final refit uses all n samples
    assert clf.C_ == pytest.approx(1 / (n * lam))


def test_final_refit_reports_convergence_warning():
    """Only the path walk may silence ConvergenceWarning; the model the user gets may not."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, y, g = _trials(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GroupCVLinearClassifier(max_iter=1, lambdas=(1e-4,), random_state=0).fit(X, y, groups=g)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1  # the refit's, not one per fold


def test_make_decoder_forwards_every_linear_parameter():
    pipe = make_decoder("svm", tol=1e-6, max_iter=7, scoring="balanced_accuracy",
                        path_patience=None, class_weight="balanced", cv=3,
                        lambdas=(1e-2,), random_state=4)
    params = pipe[-1].get_params()
    assert params["tol"] == 1e-6 and params["max_iter"] == 7 and params["cv"] == 3
    assert params["scoring"] == "balanced_accuracy" and params["path_patience"] is None
    assert params["class_weight"] == "balanced" and params["lambdas"] == (1e-2,)
    assert params["random_state"] == 4


def test_no_private_sklearn_imports():
    import inspect

    import spikedecode.decoders.linear as lin

    assert "sklearn.utils._" not in inspect.getsource(lin)
