"""Protocol, registry and invariants of the closed-form aligners."""

from __future__ import annotations

import numpy as np
import pytest

from spikedecode.align import (
    ALIGNERS,
    AlignmentWarning,
    CCAAligner,
    DayAligner,
    FactorAnalysisStabilizer,
    NoAlignment,
    PerDayPCA,
    ProcrustesAligner,
    get_aligner,
    matched_averages,
)
from spikedecode.errors import ConfigError, NotEnoughDataError, SpikeDecodeValueError
from tests.align.conftest import make_days

FAST = {"adversarial": dict(max_epochs=3, ref_epochs=3, hidden_size=8),
        "adversarial-cond": dict(max_epochs=3, ref_epochs=3, hidden_size=8)}


def _fit(al, days):
    y = {d: v.keys(al.uses_time) for d, v in days.items()} if al.uses_labels else None
    return al.fit({d: v.X for d, v in days.items()}, y)


@pytest.mark.parametrize("name", ALIGNERS)
def test_registry_builds_protocol_objects(name):
    al = get_aligner(name)
    assert isinstance(al, DayAligner)
    assert isinstance(al.uses_labels, bool) and isinstance(al.uses_time, bool)
    # a class attribute, or a read-only property of the parameters (CCA's match="time")
    cls_attr = type(al).uses_labels
    assert cls_attr == al.uses_labels or isinstance(cls_attr, property)
    assert al.get_params()  # sklearn estimator


def test_registry_rejects_unknown_names():
    with pytest.raises(ConfigError, match="must be one of"):
        get_aligner("ica")
    with pytest.raises(ConfigError, match="get_aligner"):
        get_aligner("pca", n_componentz=3)


# procrustes-select needs trials laid out as lags (n_lags >= 2), which days13's single
# bins are not: tests/align/test_select.py checks the same property on lagged trials
@pytest.mark.parametrize("name", [n for n in ALIGNERS if n not in ("none", "procrustes-select")])
def test_adapting_a_13th_day_leaves_earlier_days_bit_identical(name, days13):
    al = get_aligner(name, n_components=3, random_state=0, **FAST.get(name, {}))
    first12 = {d: days13[d] for d in range(12)}
    with pytest.warns(AlignmentWarning) if name == "fa" else _nullcontext():
        _fit(al, first12)
    before = {d: al.transform(v.X, day=d) for d, v in first12.items()}
    new = days13[12]
    with pytest.warns(AlignmentWarning) if name == "fa" else _nullcontext():
        al.adapt(new.X, new.keys(al.uses_time) if al.uses_labels else None, day=12)
    for d, v in first12.items():
        np.testing.assert_array_equal(al.transform(v.X, day=d), before[d])
    assert al.transform(new.X, day=12).shape == (len(new.X), 3)
    assert al.days_[-1] == 12 and al.n_features_ref_ == first12[0].X.shape[1]


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


@pytest.mark.parametrize("cls", [CCAAligner, ProcrustesAligner])
def test_aligning_a_day_to_itself_is_the_identity(cls, days4):
    d0 = days4[0]
    keys = d0.keys(True)
    al = cls(n_components=3).fit({0: d0.X, 1: d0.X.copy()}, {0: keys, 1: keys})
    np.testing.assert_allclose(al.maps_[1], np.eye(3), atol=1e-6)
    np.testing.assert_allclose(al.transform(d0.X, day=1), al.transform(d0.X, day=0), atol=1e-8)


@pytest.mark.parametrize("cls", [CCAAligner, ProcrustesAligner])
def test_matched_average_aligners_let_one_decoder_read_other_days(cls, days4):
    from tests.align.conftest import decoder as default_decoder

    def transfer(model):
        dec = default_decoder().fit(model.transform(days4[0].X, day=0), days4[0].labels)
        return np.mean([np.mean(dec.predict(model.transform(days4[d].X, day=d))
                                == days4[d].labels) for d in (1, 2, 3)])

    al = _fit(cls(n_components=3), days4)
    pca = _fit(PerDayPCA(n_components=3), days4)
    own = _fit(PerDayPCA(n_components=3), {0: days4[0]})
    dec = default_decoder().fit(own.transform(days4[0].X, day=0), days4[0].labels)
    ceiling = np.mean(dec.predict(own.transform(days4[0].X, day=0)) == days4[0].labels)
    assert transfer(al) > 0.85 * ceiling
    assert transfer(pca) < transfer(al) - 0.15


def test_cca_recovers_a_known_linear_map():
    rng = np.random.default_rng(3)
    keys = np.repeat(np.arange(20).astype(str), 3)
    Z = rng.normal(size=(20, 3))[np.repeat(np.arange(20), 3)]
    X0, X1 = Z @ rng.normal(size=(3, 10)), Z @ rng.normal(size=(3, 7))
    al = CCAAligner(n_components=3, reg=1e-9).fit({0: X0, 1: X1}, {0: keys, 1: keys})
    np.testing.assert_allclose(al.transform(X1, day=1), al.transform(X0, day=0), atol=1e-5)
    assert al.canonical_correlations_[1][0] > 0.999


def test_per_day_pca_exposes_spectra(days4):
    pca = _fit(PerDayPCA(n_components=3), days4)
    for d, v in days4.items():
        r = pca.explained_variance_ratio_[d]
        assert r.shape == (min(v.X.shape[0] - 1, v.X.shape[1]),)
        assert np.isclose(r.sum(), 1.0) and np.all(np.diff(r) <= 1e-12)
        # components are orthonormal in the standardized space
        C = pca.components_[d]
        np.testing.assert_allclose(C @ C.T, np.eye(3), atol=1e-10)


def test_fa_aligns_on_shared_loadings_and_falls_back_with_a_warning():
    days = make_days(3, seed=4, shared_units=12)
    units = {d: v.units for d, v in days.items()}
    fa = FactorAnalysisStabilizer(n_components=3, units=units, random_state=0)
    _fit(fa, days)
    assert fa.method_ == {0: "reference", 1: "loadings", 2: "loadings"}
    for d in (1, 2):
        R = fa.rotations_[d]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-8)  # a rotation
        assert fa.n_shared_[d] >= 3
    # no unit identity: the stabilizer says so and aligns on matched averages
    fa2 = FactorAnalysisStabilizer(n_components=3, random_state=0)
    with pytest.warns(AlignmentWarning, match="matched condition averages"):
        _fit(fa2, days)
    assert fa2.method_[1] == "matched_averages"
    # ... which needs condition keys
    fa3 = FactorAnalysisStabilizer(n_components=3, random_state=0)
    with pytest.raises(NotEnoughDataError, match="units="):
        fa3.fit({d: v.X for d, v in days.items()})


def test_fa_shared_loadings_give_a_consistent_latent():
    """The same unit on two days gets the same factor trajectory after alignment."""
    days = make_days(2, seed=5, shared_units=15)
    fa = FactorAnalysisStabilizer(n_components=3, random_state=0,
                                  units={d: v.units for d, v in days.items()})
    _fit(fa, days)
    Z0 = fa.transform(days[0].X, day=0)
    Z1 = fa.transform(days[1].X, day=1)
    A, B, _ = matched_averages(Z0, days[0].keys(), Z1, days[1].keys())
    assert np.linalg.norm(A - B) < 0.5 * np.linalg.norm(A - A.mean(0))


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda al, d: al.transform(d[0].X, day=99), ConfigError, "not fitted"),
        (lambda al, d: al.transform(d[0].X[:, :5], day=0), SpikeDecodeValueError, "expecting"),
        (lambda al, d: al.adapt(d[1].X, d[1].keys(), day=1), ConfigError, "already fitted"),
        (lambda al, d: al.adapt(d[1].X, None, day=7), SpikeDecodeValueError, "pass y"),
        (lambda al, d: al.adapt(d[1].X[0], d[1].keys()[:1], day=7), SpikeDecodeValueError, "2D"),
        (lambda al, d: al.adapt(d[1].X, d[1].keys()[:3], day=7), SpikeDecodeValueError,
         "one condition key per sample"),
    ],
)
def test_bad_calls_raise_clear_errors(call, err, match, days4):
    al = _fit(CCAAligner(n_components=3), {0: days4[0], 1: days4[1]})
    with pytest.raises(err, match=match):
        call(al, days4)


def test_fit_checks_arguments(days4):
    X = {d: v.X for d, v in days4.items()}
    with pytest.raises(ConfigError, match="n_components"):
        PerDayPCA(n_components=0).fit(X)
    with pytest.raises(ConfigError, match="reference_day"):
        PerDayPCA(n_components=2, reference_day="x").fit(X)
    with pytest.raises(NotEnoughDataError, match="n_components"):
        PerDayPCA(n_components=500).fit(X)
    with pytest.raises(SpikeDecodeValueError, match="condition keys"):
        CCAAligner(n_components=2).fit(X)
    with pytest.raises(NotEnoughDataError, match="shares 0 condition key"):
        CCAAligner(n_components=2).fit(X, {d: np.array([f"{d}"] * len(v)) for d, v in X.items()})
    pca = PerDayPCA(n_components=2, reference_day=2).fit(X)
    assert pca.reference_day_ == 2 and pca.days_[0] == 2


def test_no_alignment_refuses_different_units(days4):
    X = {d: v.X for d, v in days4.items()}
    with pytest.raises(SpikeDecodeValueError, match="without alignment"):
        NoAlignment().fit(X)
    with pytest.warns(AlignmentWarning):
        al = NoAlignment(mismatch="pad").fit(X)
    assert al.transform(X[1], day=1).shape == (len(X[1]), X[0].shape[1])


def test_warnings_point_at_the_callers_line(days4):
    # the stack level is passed down explicitly: from fit and from adapt alike, the
    # warning names this file, not spikedecode/align/base.py
    X = {d: v.X for d, v in days4.items()}
    other = [d for d in X if X[d].shape[1] != X[0].shape[1]]  # days that need padding
    assert len(other) >= 2
    with pytest.warns(AlignmentWarning) as rec:
        al = NoAlignment(mismatch="pad").fit({0: X[0], other[0]: X[other[0]]})
        al.adapt(X[other[1]], day=other[1])
    assert len(rec) == 2 and all(w.filename == __file__ for w in rec)


def test_cca_keeps_no_side_channel_attributes(days4):
    al = _fit(CCAAligner(n_components=3), days4)
    assert sorted(al.canonical_correlations_) == sorted(al.days_[1:])
    assert not [a for a in vars(al) if a.startswith("_") and not a.startswith("__")]
