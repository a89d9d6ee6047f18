"""A map the matched averages cannot determine is fitted on its determined directions only.

Two class averages (a binary label, one sample per trial) determine one direction of a
10 x 10 map: the other nine used to be whatever singular vectors LAPACK returned, so a
1e-10 change of the input (or another BLAS thread count) changed the map by O(1).
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from spikedecode.align import (
    AlignmentWarning,
    CCAAligner,
    ProcrustesAligner,
    determined_rank,
    procrustes,
)
from spikedecode.align.cca import cca_map

ALIGNERS = [CCAAligner, ProcrustesAligner]


def _binary_day(rng, n_units, n=300):
    y = np.repeat(["left", "right"], n // 2)
    X = rng.poisson(2.0, size=(n, n_units)).astype(float)
    X += (y == "left")[:, None] * rng.normal(size=n_units)
    return X, y


@pytest.fixture(scope="module")
def binary_days():
    rng = np.random.default_rng(0)
    (X0, y0), (X1, y1) = _binary_day(rng, 700), _binary_day(rng, 500)
    return {0: X0, 1: X1}, {0: y0, 1: y1}


def _fit(cls, days, y):
    with pytest.warns(AlignmentWarning, match="determine only 1 of the 10"):
        return cls(n_components=10).fit(days, y)


@pytest.mark.parametrize("cls", ALIGNERS)
def test_two_keys_determine_one_direction_and_warn(cls, binary_days):
    al = _fit(cls, *binary_days)
    assert al.map_rank_ == {0: 10, 1: 1}
    assert np.linalg.matrix_rank(al.maps_[1], tol=1e-9) == 1
    # the determined direction still carries the class averages onto the reference's
    days, y = binary_days
    Z0, Z1 = al.transform(days[0], day=0), al.transform(days[1], day=1)
    d0 = Z0[y[0] == "left"].mean(0) - Z0[y[0] == "right"].mean(0)
    d1 = Z1[y[1] == "left"].mean(0) - Z1[y[1] == "right"].mean(0)
    cos = d0 @ d1 / np.linalg.norm(d0) / np.linalg.norm(d1)
    assert cos > 0.99


@pytest.mark.parametrize("cls", ALIGNERS)
def test_a_tiny_perturbation_no_longer_changes_the_map(cls, binary_days):
    days, y = binary_days
    al = _fit(cls, days, y)
    noise = 1e-10 * np.random.default_rng(1).normal(size=days[1].shape)
    al2 = _fit(cls, {0: days[0], 1: days[1] + noise}, y)
    # before the fix: max |dW| 1.3 (CCA) and 1.2 (Procrustes)
    assert np.abs(al.maps_[1] - al2.maps_[1]).max() < 1e-6


@pytest.mark.parametrize("cls", ALIGNERS)
def test_results_do_not_depend_on_the_blas_thread_count(cls, binary_days):
    days, y = binary_days
    out = []
    for n_threads in (1, 2):
        with threadpool_limits(limits=n_threads):
            al = _fit(cls, days, y)
            out.append((al.maps_[1], al.transform(days[1], day=1)))
    # before the fix the transforms differed by up to 16 (same data, two thread counts)
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=0, atol=1e-7)


@pytest.mark.parametrize("cls", ALIGNERS)
def test_enough_keys_give_a_full_rank_map_and_no_warning(cls):
    rng = np.random.default_rng(2)
    keys = np.repeat(np.arange(12), 5).astype(str)
    Z = rng.normal(size=(12, 3))[np.repeat(np.arange(12), 5)] + 0.01 * rng.normal(size=(60, 3))
    days = {0: Z @ rng.normal(size=(3, 8)), 1: Z @ rng.normal(size=(3, 6))}
    al = cls(n_components=3).fit(days, {0: keys, 1: keys})  # warnings are errors here
    assert al.map_rank_[1] == 3
    assert np.linalg.matrix_rank(al.maps_[1]) == 3


def test_procrustes_and_cca_map_fit_only_the_determined_directions():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(3, 5))
    A -= A.mean(0)
    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    R = procrustes(A, A @ Q)
    assert np.linalg.matrix_rank(R, tol=1e-9) == 2  # 3 centred points span 2 directions
    np.testing.assert_allclose(A @ R, A @ Q, atol=1e-10)  # exact on the points
    # a partial isometry: singular values 1 on the determined directions, 0 elsewhere
    np.testing.assert_allclose(np.linalg.svd(R, compute_uv=False), [1, 1, 0, 0, 0], atol=1e-10)
    W, corr = cca_map(A, A @ Q, reg=1e-9)
    assert np.linalg.matrix_rank(W, tol=1e-6) == 2
    np.testing.assert_allclose((A @ Q) @ W, A, atol=1e-4)
    assert determined_rank(corr, rank=2) == 2


def test_identity_completion_is_orthogonal_and_stable():
    rng = np.random.default_rng(4)
    A = rng.normal(size=(2, 6))
    A -= A.mean(0)
    B = A @ np.linalg.qr(rng.normal(size=(6, 6)))[0]
    R = procrustes(A, B, complete="identity")
    np.testing.assert_allclose(R @ R.T, np.eye(6), atol=1e-10)
    np.testing.assert_allclose(A @ R, B, atol=1e-10)  # the determined direction is fitted
    R2 = procrustes(A + 1e-10 * rng.normal(size=A.shape), B, rank=1, complete="identity")
    assert np.abs(R - R2).max() < 1e-6
    # nearest the identity: no other orthogonal fit of the points has a larger trace
    for _ in range(20):
        Q = np.linalg.qr(rng.normal(size=(5, 5)))[0]
        u = A[0] / np.linalg.norm(A[0])
        basis = np.linalg.svd(np.eye(6) - np.outer(u, u))[0][:, :5]  # complement of u
        P = np.outer(u, u) + basis @ Q @ basis.T  # fixes u, rotates its complement
        assert np.trace(P @ R) <= np.trace(R) + 1e-9
