"""Tests of spikedecode.robust.introspect: hidden-state map, error estimator, detection."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from spikedecode.errors import ConfigError, SpikeDecodeValueError
from spikedecode.robust.introspect import (
    ErrorEstimator,
    HiddenActivationHistory,
    InfoVAE,
    Introspector,
    VAENet,
    attack_trajectory,
    classifier_error,
    constellation,
    detection_auroc,
    expected_activation,
    hidden_layers,
    mmd,
    record_hidden,
    reorder_units,
)
from spikedecode.training import train


def _blobs(n: int = 600, d: int = 8, spread: float = 1.6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(3, d))
    y = rng.integers(0, 3, n)
    x = centers[y] + spread * rng.normal(size=(n, d))
    x = (x - x.min()) / (x.max() - x.min())  # into [0, 1] like images
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)


def _net(seed: int = 0, d: int = 8) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.ELU(), nn.Linear(16, 16), nn.ELU(), nn.Linear(16, 3))


@pytest.fixture(scope="module")
def fitted():
    x, y = _blobs()
    net = _net()
    train(net, (x[:300], y[:300]), max_epochs=15, batch_size=32, lr=3e-3, random_state=0,
          device="cpu")
    intro = Introspector(vae_params={"max_epochs": 40, "hidden_layer_sizes": (32,),
                                     "patience": None, "batch_size": 64},
                         estimator_params={"max_epochs": 60, "hidden_layer_sizes": (32, 32)},
                         random_state=0).fit(net, x[300:], y[300:])
    return net, intro, x, y


def test_hidden_layers_and_record_hidden_concatenates():
    net = _net()
    assert hidden_layers(net) == ["1", "3"]
    h = record_hidden(net, torch.rand(7, 8))
    assert h.shape == (7, 32) and h.dims == ("sample", "unit")
    assert (h.layer.values == "1").sum() == 16 and h.index.values[16] == 0
    assert sum(len(m._forward_hooks) for m in net.modules()) == 0
    with pytest.raises(ConfigError, match="no activation modules"):
        hidden_layers(nn.Sequential(nn.Linear(2, 2)))


def test_hidden_activation_history_over_epochs():
    x, y = _blobs(120)
    net = _net()
    cb = HiddenActivationHistory(x[:10])
    train(net, (x, y), max_epochs=3, batch_size=40, callbacks=[cb], random_state=0, device="cpu")
    da = cb.to_dataarray()
    assert da.dims == ("epoch", "sample", "unit") and da.shape == (4, 10, 32)
    assert da.epoch.values.tolist() == [-1, 0, 1, 2]
    assert not np.allclose(da[0], da[-1])  # the state moved while learning
    np.testing.assert_allclose(da[-1], record_hidden(net, x[:10]).values, rtol=1e-5, atol=1e-6)


def test_mmd_zero_for_matching_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 2, generator=g)
    b = torch.randn(400, 2, generator=g)
    # k(a, a) is computed by the same ops in the same order for all three means: exactly 0
    assert float(mmd(a, a)) == 0.0
    same = float(mmd(a, b))
    shifted = float(mmd(a, b + 1.0))
    assert same < 0.01
    assert shifted > 10 * same and shifted > 0.05
    assert float(mmd(a, b * 3.0, kernel="imq")) > float(mmd(a, b, kernel="imq"))
    with pytest.raises(SpikeDecodeValueError, match="mmd needs"):
        mmd(a, torch.randn(5, 3))


def _zhao_mmd(x, y):
    # Zhao et al.'s MMD-VAE code (compute_kernel / compute_mmd), written out independently:
    # k(a, b) = exp(-mean over the d dims of (a - b)^2 / d)
    def k(a, b):
        d = a.shape[1]
        return torch.exp(-((a[:, None, :] - b[None, :, :]) ** 2).mean(2) / d)

    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()


@pytest.mark.parametrize("d", [1, 2, 8])
def test_mmd_default_bandwidth_is_zhaos_kernel(d):
    g = torch.Generator().manual_seed(d)
    x = torch.randn(300, d, generator=g, dtype=torch.float64) * 1.5 + 0.5
    y = torch.randn(300, d, generator=g, dtype=torch.float64)
    # float64; cdist and the explicit differences round differently (~1e-15), hence 1e-9.
    # A bandwidth of d instead of d^2 is off by 13 % at d = 2 and 76 % at d = 8 (audit).
    assert float(mmd(x, y)) == pytest.approx(float(_zhao_mmd(x, y)), rel=1e-9, abs=1e-12)


def test_infovae_latent_is_near_prior_and_keeps_cluster_structure():
    x, y = _blobs(500, d=12, spread=0.3, seed=1)
    vae = InfoVAE(hidden_layer_sizes=(32,), max_epochs=40, batch_size=64, mmd_weight=2.0,
                  patience=None, random_state=0).fit(x.numpy())
    z = vae.transform(x.numpy())
    assert z.shape == (500, 2)
    assert float(mmd(torch.as_tensor(z), torch.randn(500, 2, generator=torch.Generator()
                                                     .manual_seed(1)))) < 0.1
    assert np.all(np.abs(z.mean(0)) < 0.5) and np.all((z.std(0) > 0.3) & (z.std(0) < 2.0))
    # nearest-centroid in z recovers the blobs
    cents = np.stack([z[y.numpy() == c].mean(0) for c in range(3)])
    pred = np.argmin(((z[:, None] - cents[None]) ** 2).sum(-1), 1)
    assert (pred == y.numpy()).mean() > 0.95
    assert vae.reconstruction_error(x.numpy()) < 0.9  # better than predicting the mean (1.0)
    with pytest.raises(SpikeDecodeValueError, match="expecting 12 units"):
        vae.transform(np.zeros((2, 5)))


def test_classifier_error_values():
    # Pardo et al.'s e = 1/2 ||y - y_hat||^2
    e = classifier_error([[0.0, 0.0]], [1])  # softmax (0.5, 0.5): (0.25 + 0.25) / 2
    assert e[0] == pytest.approx(0.25)
    e = classifier_error([[0.0, 100.0]], [1], output="sigmoid")  # (0.5, 1) -> 0.25 / 2
    assert e[0] == pytest.approx(0.125)
    e = classifier_error([[0.7, 0.2, 0.1]], [0], output="probs")  # audit item 10's example
    assert e[0] == pytest.approx(0.07)
    with pytest.raises(ConfigError, match="output == 'x'"):
        classifier_error([[0.0, 1.0]], [1], output="x")


def test_error_estimator_learns_smooth_map():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 2))
    t = 0.5 / (1 + np.exp(-(np.sin(z[:, 0]) + 0.5 * z[:, 1])))  # an error in [0, 0.5]
    est = ErrorEstimator(max_epochs=60, random_state=0).fit(z, t)
    assert est.score(z, t) > 0.9
    # confidence = -log10 of the estimate, clipped to the floor
    np.testing.assert_allclose(est.confidence(z),
                               -np.log10(np.maximum(est.predict(z), est.floor)))
    # log10 errors (negative) are refused: the estimator regresses e itself
    with pytest.raises(SpikeDecodeValueError, match="not log10 e"):
        ErrorEstimator(max_epochs=1).fit(z, np.log10(t))


def test_error_estimator_estimates_the_mean_error_where_classes_mix():
    # science audit item 10: where correct (e ~ 1e-6..1e-3) and wrong (e ~ 0.4..0.8)
    # samples mix, the estimate must be the expected error E[e | z] (Pardo et al. regress e),
    # not a geometric mean: regressing log10 e gave 10**estimate = 0.0125 for a true 0.576
    rng = np.random.default_rng(0)
    n = 3000
    z = rng.uniform(-3, 3, size=(n + 1000, 2))
    p_wrong = 1 / (1 + np.exp(-3 * (z[:, 0] - 1.5)))  # misclassification rate rises with z1
    wrong = rng.uniform(size=len(z)) < p_wrong
    e = np.where(wrong, rng.uniform(0.4, 0.8, len(z)), 10 ** rng.uniform(-6, -3, len(z)))
    true_mean = p_wrong * 0.6 + (1 - p_wrong) * (1e-3 - 1e-6) / (3 * np.log(10))
    est = ErrorEstimator(max_epochs=40, random_state=0).fit(z[:n], e[:n])
    zt, mt = z[n:], true_mean[n:]
    e_hat = 10 ** -est.confidence(zt)  # the reported confidence maps back to ê
    for lo, hi in ((1, 2), (2, 3)):  # mixed regions (measured 0.29 vs 0.29, 0.59 vs 0.56)
        m = (zt[:, 0] >= lo) & (zt[:, 0] < hi)
        ratio = e_hat[m].mean() / mt[m].mean()
        assert 1 / 1.5 < ratio < 1.5, (lo, hi, ratio)
    assert 1 / 1.5 < e_hat.mean() / mt.mean() < 1.5


def test_detection_auroc_perfect_reversed_and_chance():
    pos = np.r_[np.zeros(50), np.ones(50)]
    assert detection_auroc(np.r_[np.zeros(50), np.ones(50) + 1], pos) == 1.0
    assert detection_auroc(-np.r_[np.zeros(50), np.ones(50) + 1], pos) == 0.0
    rnd = np.random.default_rng(0).random(2000)
    assert abs(detection_auroc(rnd, np.arange(2000) % 2) - 0.5) < 0.05
    with pytest.raises(SpikeDecodeValueError, match="only one class"):
        detection_auroc([0.1, 0.2], [1, 1])


def test_introspector_detects_misclassified_inputs(fitted):
    net, intro, x, y = fitted
    assert intro.z_.shape == (300, 2)
    wrong = intro.pred_ != intro.y_
    assert 5 <= wrong.sum() <= 150  # overlapping blobs: some errors to detect
    # in-sample fit: the estimated error tracks the true error, and on average equals it
    e_hat = intro.estimator_.predict(intro.z_)
    np.testing.assert_allclose(intro.log10_error_, np.log10(intro.error_))
    # (measured r = 0.56: e is near-binary given z, so even E[e | z] correlates imperfectly)
    assert np.corrcoef(e_hat, intro.error_)[0, 1] > 0.4
    assert 1 / 1.5 < e_hat.mean() / intro.error_.mean() < 1.5
    s = intro.scores(x[300:])
    assert detection_auroc(s["log10_error"], wrong) > 0.75
    assert detection_auroc(s["cluster_distance"], wrong) > 0.6
    np.testing.assert_allclose(s["z"], intro.z_, rtol=1e-5, atol=1e-5)


def test_expected_activation_and_reorder(fitted):
    net, intro, x, y = fitted
    h = intro.hidden(x[300:])
    for method in ("centroid", "riemann", "direct"):
        e = expected_activation(intro, method=method, hidden=h, grid=16)
        assert e.dims == ("class", "unit") and e.shape == (3, 32)
        assert np.isfinite(e.values).all()
    direct = expected_activation(intro, method="direct", hidden=h).values
    np.testing.assert_allclose(direct[1], h[intro.y_ == 1].mean(0), rtol=1e-5)
    cent = expected_activation(intro, method="centroid").values
    # the decoder at the class centre is close to the class's mean activation
    assert np.corrcoef(cent.ravel(), direct.ravel())[0, 1] > 0.8
    order, unit_class = reorder_units(direct, layer=record_hidden(net, x[:1]).layer.values)
    assert sorted(order.tolist()) == list(range(32))
    assert np.all(unit_class == direct.argmax(0))
    assert np.all(order[:16] < 16)  # layer "1" first
    assert np.all(np.diff(unit_class[order[:16]]) >= 0)  # grouped by class within a layer


def test_constellation_spreads_with_noise(fitted):
    net, intro, x, y = fitted
    c = constellation(intro, x[300], sigmas=(0.0, 0.1, 0.3), n_copies=50, random_state=0)
    assert c.dims == ("sigma", "copy", "latent") and c.shape == (3, 50, 2)
    spread = c.std("copy").sum("latent").values
    assert spread[0] < 1e-5 and spread[2] > spread[1] > spread[0]
    assert c.pred.shape == (3, 50)


def test_attack_trajectory_moves_to_target(fitted):
    net, intro, x, y = fitted
    xs = x[300:305]
    target = (intro.predict_classes(xs) + 1) % 3
    tr = attack_trajectory(intro, xs, target, step_size=0.02, n_steps=40, every=10)
    assert tr.dims == ("step", "sample", "latent") and tr.step.values.tolist() == [0, 10, 20,
                                                                                     30, 40]
    np.testing.assert_array_equal(tr.pred[0], intro.predict_classes(xs))
    assert (tr.pred[-1].values == target).mean() >= 0.8
    assert np.all(np.linalg.norm(tr[-1] - tr[0], axis=-1) > 0)
    # the trajectory is targeted_ifgsm_mse's: its last step is that attack's result
    from spikedecode.robust.attacks import targeted_ifgsm_mse

    adv = targeted_ifgsm_mse(intro.model_, torch.as_tensor(xs).float(), torch.as_tensor(target),
                             step_size=0.02, n_steps=40, output=intro.output)
    # same computation twice; the tolerance only absorbs nondeterministic BLAS reductions
    np.testing.assert_allclose(tr[-1].values, intro.transform(adv), rtol=1e-5, atol=1e-6)


def test_mmd_multiscale_keeps_gradient_on_far_outliers():
    g = torch.Generator().manual_seed(0)
    prior = torch.randn(300, 2, generator=g)
    z = torch.randn(300, 2, generator=g)
    z[:30] += 8.0  # a class drifted away from the prior
    grads = {}
    for name, bw in (("single", None), ("multi", [0.4, 2.0, 10.0, 50.0])):
        zz = z.clone().requires_grad_(True)
        mmd(zz, prior, bandwidth=bw).backward()
        # gradient descent pulls the drifted points back towards the prior (-grad . (1, 1))
        grads[name] = float(-zz.grad[:30].sum())
    assert grads["multi"] < 0 and abs(grads["multi"]) > 100 * abs(grads["single"]), grads
    with pytest.raises(ConfigError, match="bandwidth"):
        mmd(z, prior, bandwidth=[0.0])


def test_vaenet_returns_its_latents_and_keeps_no_batch_state():
    torch.manual_seed(0)
    net = VAENet(5, (4,), 2, stochastic=True).train()
    x = torch.randn(6, 5)
    out = net(x)
    assert out.shape == (6, 5 + 3 * 2)
    x_hat, z, mu, logvar = net.unpack(out)
    mu_e, logvar_e = net.encode(x)
    assert torch.allclose(mu, mu_e) and torch.allclose(logvar, logvar_e)
    assert not torch.allclose(z, mu)  # stochastic in training mode: z is a sample
    assert torch.allclose(x_hat, net.decoder(z))  # the decoder saw this z
    assert not any(k.startswith("last_") for k in vars(net))
    _, z_eval, mu_eval, _ = net.eval().unpack(net(x))
    assert torch.equal(z_eval, mu_eval)  # eval mode: z is the mean


def test_fitted_infovae_and_introspector_pickle(fitted):
    net, intro, x, _ = fitted
    clone = pickle.loads(pickle.dumps(intro))
    xs = x[:20]
    # same weights, same deterministic ops on CPU: identical outputs
    np.testing.assert_array_equal(clone.transform(xs), intro.transform(xs))
    np.testing.assert_array_equal(clone.log10_error(xs), intro.log10_error(xs))
    vae = intro.vae_
    h = intro.hidden(xs)
    vae2 = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(vae2.transform(h), vae.transform(h))
    np.testing.assert_array_equal(vae2.inverse_transform(vae.transform(h)),
                                  vae.inverse_transform(vae.transform(h)))
