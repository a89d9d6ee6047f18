"""Samplers balance classes reproducibly; splitters never split a trial."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import StratifiedGroupKFold

from spikedecode._random import draw_seed
from spikedecode.errors import NotEnoughDataError, SpikeDecodeValueError
from spikedecode.preprocess import (
    BlockedTimeSplit,
    BootstrapSampler,
    RandomOverSampler,
    RandomUnderSampler,
    leakage_safe_cv,
    make_windows,
    to_xy,
)
from spikedecode.preprocess.resample import (
    balanced_bootstrap_indices,
    group_splits,
    grouped_validation_split,
)

labels_st = st.lists(st.sampled_from(["latent", "touch/LUM", "touch/LBR"]), min_size=1,
                     max_size=80)


@settings(max_examples=60, deadline=None)
@given(y=labels_st, seed=st.integers(0, 1000))
def test_under_and_over_sampling_balance(y, seed):
    y = np.array(y)
    X = np.arange(y.size * 2).reshape(y.size, 2)
    g = np.arange(y.size) // 3
    classes, counts = np.unique(y, return_counts=True)

    Xu, yu, gu = RandomUnderSampler(random_state=seed).fit_resample(X, y, groups=g)
    cu = np.unique(yu, return_counts=True)
    assert cu[0].tolist() == classes.tolist()
    assert set(cu[1].tolist()) == {counts.min()}
    assert len(set(Xu[:, 0].tolist())) == yu.size  # without replacement
    # rows, labels and groups stay together
    np.testing.assert_array_equal(y[Xu[:, 0] // 2], yu)
    np.testing.assert_array_equal(g[Xu[:, 0] // 2], gu)

    over = RandomOverSampler(random_state=seed)
    Xo, yo, go = over.fit_resample(X, y, groups=g)
    co = np.unique(yo, return_counts=True)
    assert set(co[1].tolist()) == {counts.max()}
    assert set(Xo[:, 0].tolist()) == set(X[:, 0].tolist())  # every original kept
    np.testing.assert_array_equal(y[Xo[:, 0] // 2], yo)
    np.testing.assert_array_equal(g[Xo[:, 0] // 2], go)
    assert over.class_counts_ == dict.fromkeys(classes.tolist(), int(counts.max()))


def test_reproducible_with_random_state(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    y = rng.choice(["a", "b", "c"], size=200, p=[0.8, 0.15, 0.05])
    X = rng.normal(size=(200, 3))
    for cls in (RandomUnderSampler, RandomOverSampler, BootstrapSampler):
        a = cls(random_state=global_random_seed).fit_resample(X, y)
        b = cls(random_state=global_random_seed).fit_resample(X, y)
        c = cls(random_state=global_random_seed + 100).fit_resample(X, y)
        np.testing.assert_array_equal(a[0], b[0])
        assert not np.array_equal(a[0], c[0])  # another seed, another draw


def test_bootstrap_sizes_and_stratify():
    y = np.array(["a"] * 30 + ["b"] * 10)
    X = np.arange(40)[:, None]
    Xb, yb = BootstrapSampler(random_state=0).fit_resample(X, y)
    assert Xb.shape == (40, 1) and len(set(Xb[:, 0].tolist())) < 40  # with replacement
    Xb, yb = BootstrapSampler(n_samples=100, stratify=True, random_state=0).fit_resample(X, y)
    assert yb.size == 100 and int((yb == "a").sum()) == 75 and int((yb == "b").sum()) == 25
    with pytest.raises(SpikeDecodeValueError, match="n_samples"):
        BootstrapSampler(n_samples=0).fit_resample(X, y)


def test_dataarray_in_dataarray_out(tiny_experiment):
    w = make_windows(tiny_experiment[0], bin_size=0.05, n_bins=2)
    wr, yr = RandomUnderSampler(random_state=0).fit_resample(w)
    assert isinstance(wr, xr.DataArray) and wr.dims == w.dims
    assert wr["label"].values.tolist() == yr.tolist()
    _, counts = np.unique(yr, return_counts=True)
    assert len(set(counts.tolist())) == 1
    wo, yo, go = RandomOverSampler(random_state=0).fit_resample(
        w, w["label"].values, groups=w["trial"].values)
    assert wo["trial"].values.tolist() == go.tolist()
    assert np.all(np.diff(wo["time"].values) >= 0)  # time order kept


def test_sampler_errors():
    with pytest.raises(SpikeDecodeValueError, match="y has shape"):
        RandomUnderSampler().fit_resample(np.zeros((3, 1)), np.array(["a", "b"]))
    with pytest.raises(SpikeDecodeValueError, match="groups has shape"):
        RandomUnderSampler().fit_resample(np.zeros((2, 1)), np.array(["a", "b"]), groups=[1])
    with pytest.raises(SpikeDecodeValueError, match="y is None"):
        RandomOverSampler().fit_resample(np.zeros((2, 1)))
    with pytest.raises(NotEnoughDataError):
        RandomOverSampler().fit_resample(np.zeros((0, 1)), np.array([]))
    assert RandomUnderSampler(random_state=3).get_params() == {"random_state": 3}
    Xl, yl = RandomOverSampler(random_state=0).fit_resample([[0], [1], [2]], ["a", "a", "b"])
    assert Xl.shape == (4, 1) and sorted(yl.tolist()) == ["a", "a", "b", "b"]


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=6, max_size=30),
    n_splits=st.integers(2, 4),
    gap=st.integers(0, 3),
    seed=st.integers(0, 100),
)
def test_splitters_never_split_a_trial(sizes, n_splits, gap, seed):
    groups = np.repeat(np.arange(len(sizes)), sizes)
    y = np.where(groups % 2 == 0, "latent", "stim")
    X = np.zeros((groups.size, 1))
    for tr, te in BlockedTimeSplit(n_splits=n_splits, gap=gap).split(X, y, groups):
        assert set(groups[tr]).isdisjoint(groups[te])
        if tr.size:
            # no training sample within `gap` of the test block
            lo, hi = te.min(), te.max()
            assert np.all((tr < lo - gap) | (tr > hi + gap))
    if len(sizes) >= n_splits:
        cv = leakage_safe_cv(n_splits, random_state=seed)
        seen = []
        for tr, te in cv.split(X, y, groups):
            assert set(groups[tr]).isdisjoint(groups[te])
            seen.append(te)
        assert sorted(np.concatenate(seen).tolist()) == list(range(groups.size))


def test_blocked_split_partitions_in_time():
    cv = BlockedTimeSplit(n_splits=3, gap=2)
    tests = [te for _, te in cv.split(np.zeros((30, 1)))]
    assert [t.tolist() for t in tests] == [list(range(0, 10)), list(range(10, 20)),
                                           list(range(20, 30))]
    tr1 = next(iter(tr for i, (tr, _) in enumerate(cv.split(np.zeros((30, 1)))) if i == 1))
    assert tr1.tolist() == list(range(0, 8)) + list(range(22, 30))
    assert cv.get_n_splits() == 3
    with pytest.raises(SpikeDecodeValueError, match="gap"):
        next(BlockedTimeSplit(gap=-1).split(np.zeros((10, 1))))
    with pytest.raises(NotEnoughDataError):
        next(BlockedTimeSplit(n_splits=5).split(np.zeros((3, 1))))


def test_leakage_safe_cv_is_sklearn_splitter_on_windows(tiny_experiment):
    w = make_windows(tiny_experiment[0], bin_size=0.05, n_bins=2)
    X, y, g = to_xy(w)
    cv = leakage_safe_cv(3, random_state=0)
    assert isinstance(cv, StratifiedGroupKFold) and cv.get_n_splits() == 3
    for tr, te in cv.split(X, y, g):
        assert set(g[tr]).isdisjoint(g[te])
        assert set(y[te]) == set(y)  # stratified: every class in every fold
    with pytest.raises(SpikeDecodeValueError, match="n_splits"):
        leakage_safe_cv(1)


# --- the one splitter family and the one class-balanced bootstrap ---------------------------

@pytest.mark.parametrize("seed", [0, 3, np.random.RandomState(2), np.random.default_rng(4)])
def test_group_splits_and_leakage_safe_cv_draw_the_same_seed(seed):
    import copy

    y = np.repeat(np.arange(3), 20)
    g = np.repeat(np.arange(30), 2)
    a = group_splits(y, g, 5, random_state=copy.deepcopy(seed))
    b = list(leakage_safe_cv(5, random_state=copy.deepcopy(seed)).split(y, y, g))
    assert len(a) == len(b) == 5
    for (tr_a, te_a), (tr_b, te_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(te_a, te_b)
        np.testing.assert_array_equal(tr_a, tr_b)
    # and the seed is draw_seed's: the sklearn splitter built with it gives the same folds
    ref = StratifiedGroupKFold(5, shuffle=True, random_state=draw_seed(copy.deepcopy(seed)))
    np.testing.assert_array_equal(next(iter(ref.split(y, y, g)))[1], a[0][1])


def test_grouped_validation_split_draws_its_seed_with_draw_seed():
    from sklearn.model_selection import GroupShuffleSplit

    y = np.repeat([0, 1], 20)
    g = np.repeat(np.arange(20), 2)
    tr, va = grouped_validation_split(y, g, 0.25, random_state=7)
    ref_tr, ref_va = next(GroupShuffleSplit(1, test_size=0.25, random_state=draw_seed(7))
                          .split(y, y, g))
    np.testing.assert_array_equal(va, np.sort(ref_va))
    assert set(g[tr]).isdisjoint(g[va]) and len(tr) + len(va) == len(y)


@pytest.mark.parametrize("size", ["largest", "fold"])
def test_bootstrap_sampler_balance_is_balanced_bootstrap_indices(size):
    y = np.array(["a"] * 13 + ["b"] * 5 + ["c"] * 2)
    X = np.arange(len(y))[:, None]
    idx = balanced_bootstrap_indices(y, random_state=11, size=size)
    _, yb = BootstrapSampler(balance=size, random_state=11).fit_resample(X, y)
    s = BootstrapSampler(balance=size, random_state=11)
    s.fit_resample(X, y)
    # the same draw: same indices (the sampler returns them sorted)
    np.testing.assert_array_equal(s.sample_indices_, np.sort(idx))
    per = 13 if size == "largest" else len(y) // 3
    assert s.class_counts_ == {"a": per, "b": per, "c": per}
    with pytest.raises(SpikeDecodeValueError, match="balance"):
        BootstrapSampler(balance="half").fit_resample(X, y)
    with pytest.raises(SpikeDecodeValueError, match="n_samples"):
        BootstrapSampler(balance=True, n_samples=4).fit_resample(X, y)
