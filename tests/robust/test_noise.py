"""Tests of noise injection, noisy ResNets and randomized smoothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import beta, norm
from torch import nn

from spikedecode.errors import ConfigError, SpikeDecodeTypeError
from spikedecode.robust.noise import (
    CountNoise,
    DataNoise,
    GaussianNoise,
    LayerNoise,
    gaussian_noise,
    matched_isotropic,
)
from spikedecode.robust.resnet import (
    EnResNet,
    NoisyResidualBlock,
    PreActBlock,
    count_parameters,
    noisy_resnet20,
    resnet20,
    set_noise,
)
from spikedecode.robust.smoothing import (
    ABSTAIN,
    PredictionAverage,
    certified_accuracy,
    certify,
    predict_average,
    smooth_predict,
)
from spikedecode.training import train


class _State:
    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- input noise
def test_gaussian_noise_sigma_statistics(global_random_seed):
    tf = GaussianNoise(0.3)
    x = torch.zeros(200, 500)
    out = tf(x, _State(global_random_seed))
    assert abs(float(out.mean())) < 0.01
    assert abs(float(out.std()) - 0.3) < 0.01
    assert tf.train_only is True


def test_randomized_sigma_uniform_in_range():
    tf = GaussianNoise(1.0, randomize=True)
    st = _State(0)
    sig, emp = [], []
    for _ in range(400):
        out = tf(torch.zeros(1, 2000), st)
        sig.append(tf.last_sigma_)
        emp.append(float(out.std()))
    sig = np.array(sig)
    assert sig.min() >= 0 and sig.max() <= 1.0
    # uniform on [0, 1]: mean 1/2, variance 1/12
    assert abs(sig.mean() - 0.5) < 0.05 and abs(sig.var() - 1 / 12) < 0.02
    # the applied noise really has the drawn sigma
    np.testing.assert_allclose(emp, sig, atol=0.05)
    assert np.isclose(tf.energy, 1 / 3)


def test_noise_reproducible_with_seed():
    tf = GaussianNoise(1.0, randomize=True)
    a = tf(torch.zeros(3, 4), _State(5))
    b = tf(torch.zeros(3, 4), _State(5))
    c = tf(torch.zeros(3, 4), _State(6))
    # same seed, same code path, same operation order: bit-identical
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_clip_respected():
    out = gaussian_noise(torch.rand(50, 10), 2.0, clip=(0.0, 1.0),
                         generator=torch.Generator().manual_seed(0))
    assert float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_bad_sigma(bad):
    with pytest.raises(ConfigError, match="sigma"):
        GaussianNoise(bad)


def test_training_with_noise_transform_reproducible():
    torch.manual_seed(0)
    x = torch.randn(128, 5)
    y = (x[:, 0] > 0).long()

    def run():
        torch.manual_seed(1)
        net = nn.Linear(5, 2)
        train(net, (x, y), max_epochs=2, batch_size=32, random_state=3,
              transforms=[GaussianNoise(0.5, randomize=True)])
        return net.weight.detach().clone()

    assert torch.equal(run(), run())  # same seeds and code path: bit-identical on CPU


def test_data_noise_covariance_and_isotropic_energy():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    X = rng.normal(size=(3000, 6)) @ A
    cov = np.cov(X, rowvar=False)
    dn = DataNoise(kind="covariance", scale=0.5).fit(X)
    s = dn.sample(40000, generator=torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_allclose(np.cov(s, rowvar=False), 0.5 * cov, atol=0.05 * np.abs(cov).max())
    assert np.isclose(dn.energy_, 0.5 * np.trace(cov), rtol=1e-6)
    iso = DataNoise(kind="isotropic", scale=0.5).fit(X)
    assert np.isclose(iso.energy_, dn.energy_)
    si = iso.sample(40000, generator=torch.Generator().manual_seed(1)).numpy()
    assert np.isclose((si**2).sum(1).mean(), dn.energy_, rtol=0.03)
    g = matched_isotropic(dn)
    assert np.isclose(g.sigma**2 * 6, dn.energy_)


def test_pca_noise_lies_in_top_subspace():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 5)) * np.array([5.0, 3.0, 0.1, 0.1, 0.1])
    dn = DataNoise(kind="pca", n_components=2, scale=1.0).fit(X)
    s = dn.sample(2000, generator=torch.Generator().manual_seed(0)).numpy()
    assert np.abs(s[:, 2:]).max() < 0.1  # no energy off the top-2 directions
    assert dn.components_.shape == (2, 5)
    # default: components for 95 % of the variance
    assert DataNoise(kind="pca").fit(X).components_.shape[0] == 2


def test_data_noise_keeps_image_shape():
    X = torch.rand(100, 1, 4, 4)
    dn = DataNoise(scale=0.1).fit(X)
    assert dn(torch.zeros(7, 1, 4, 4), _State(0)).shape == (7, 1, 4, 4)
    # the noise lands on the pixels that vary in the data, in image layout: only pixel
    # (row 1, column 2) varies, so the noise is zero everywhere else and non-zero there
    X1 = torch.zeros(100, 1, 4, 4)
    X1[:, 0, 1, 2] = torch.rand(100, generator=torch.Generator().manual_seed(0))
    out = DataNoise(scale=1.0).fit(X1)(torch.zeros(7, 1, 4, 4), _State(0))
    others = torch.ones(1, 4, 4, dtype=torch.bool)
    others[0, 1, 2] = False
    assert float(out[:, others].abs().max()) < 1e-6
    assert float(out[:, 0, 1, 2].abs().min()) > 0


def test_count_noise_integer_nonnegative_and_fano_variance():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 2000)
    lam = np.where(y[:, None] == 0, [2.0, 8.0, 0.5], [4.0, 1.0, 0.5])
    X = rng.poisson(lam)
    cn = CountNoise(kind="fano").fit(X, y)
    # Poisson data: within-class Fano factor ~ 1
    np.testing.assert_allclose(cn.fano_, 1.0, atol=0.15)
    big = torch.full((20000, 3), 50.0)  # far from 0: clipping never binds
    out = cn(big, _State(0))
    assert torch.equal(out, out.round()) and float(out.min()) >= 0
    np.testing.assert_allclose((out - big).var(0).numpy(), cn.variance_, rtol=0.1)
    iso = matched_isotropic(cn)
    assert np.isclose(iso.energy_, cn.energy_)
    assert np.allclose(iso.variance_, cn.variance_.mean())
    pois = CountNoise(kind="poisson", scale=1.0)
    outp = pois(torch.full((20000, 1), 9.0), _State(1))
    assert abs(float((outp - 9).var()) - 9.0) < 0.5


def test_count_noise_rejects_negative():
    with pytest.raises(ConfigError, match="negative"):
        CountNoise().fit(np.array([[1, -1], [0, 2]]))


def test_layer_noise_covariance_and_detach():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 3, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.diag(torch.tensor([2.0, 1.0, 0.0])))
    X = torch.randn(5000, 3)
    ln = LayerNoise(net[0], kind="covariance", scale=1.0, test_time=True).fit(net, X)
    ln.attach()
    with torch.no_grad():
        noise = net(torch.zeros(20000, 3))
    std = noise.std(0).numpy()
    np.testing.assert_allclose(std, [2.0, 1.0, 0.0], atol=0.05)
    ln.detach()
    with torch.no_grad():
        assert torch.equal(net(torch.zeros(2, 3)), torch.zeros(2, 3))


def test_layer_noise_as_training_callback_on_lstm():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 8, batch_first=True)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    net = Net()
    x = torch.randn(64, 5, 4)
    y = (x[:, :, 0].sum(1) > 0).long()
    ln = LayerNoise(net.lstm, kind="covariance", scale=0.2)
    train(net, (x, y), max_epochs=2, batch_size=16, random_state=0, callbacks=[ln])
    assert ln._handle is None  # removed after training (test_time=False)
    assert ln.energy_ > 0
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x[:3]), net(x[:3]))


# ----------------------------------------------------------------------------- noisy ResNets
def test_noisy_block_std_scaling():
    torch.manual_seed(0)
    clean = PreActBlock(8, 8).eval()
    for a in (0.1, 0.5):
        blk = NoisyResidualBlock(8, 8, a=a).eval()
        blk.load_state_dict(clean.state_dict())
        x = torch.randn(4, 8, 16, 16) * torch.tensor([1.0, 2.0, 4.0, 8.0]).reshape(4, 1, 1, 1)
        with torch.no_grad():
            ref = clean(x)
            diff = blk(x) - ref
        ratio = diff.reshape(4, -1).std(1) / ref.reshape(4, -1).std(1)
        np.testing.assert_allclose(ratio.numpy(), a, rtol=0.05)


def test_noisy_block_gradient_and_switch():
    blk = NoisyResidualBlock(4, 4, a=0.3).eval()
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    blk(x).sum().backward()
    assert x.grad is not None
    net = noisy_resnet20(a=0.2).eval()
    xi = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert not torch.equal(net(xi), net(xi))  # on at test time
        set_noise(net, False)
        assert torch.equal(net(xi), net(xi))


def test_noise_switch_is_saved_in_state_dict(tmp_path):
    from spikedecode.serialization import load_state, save_module

    net = set_noise(noisy_resnet20(a=0.2), False).eval()
    # the switch travels with the weights, also through safetensors
    save_module(net, tmp_path / "net")
    state, _ = load_state(tmp_path / "net")
    fresh = noisy_resnet20(a=0.2).eval()
    assert all(m.noise_on for m in fresh.modules() if isinstance(m, NoisyResidualBlock))
    fresh.load_state_dict(state)
    assert not any(m.noise_on for m in fresh.modules() if isinstance(m, NoisyResidualBlock))
    xi = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(fresh(xi), net(xi))  # noise off, same weights
    blk = NoisyResidualBlock(4, 4, a=0.3, noise_on=False)
    assert not blk.noise_on and not blk.stochastic
    on = NoisyResidualBlock(4, 4, a=0.3)
    on.load_state_dict(blk.state_dict())
    assert not on.noise_on
    # a plain block's weights load and leave the switch as it was
    on.noise_on = True
    on.load_state_dict(PreActBlock(4, 4).state_dict())
    assert on.noise_on and bool(on.noise_flag)


def test_noisy_resnet20_same_params_as_resnet20():
    assert count_parameters(noisy_resnet20()) == count_parameters(resnet20())
    assert sum(isinstance(m, NoisyResidualBlock) for m in noisy_resnet20().modules()) == 9


def test_enresnet_averages_member_logits():
    ens = EnResNet(n_members=2, a=0.0).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        expect = (ens.members[0](x) + ens.members[1](x)) / 2
        torch.testing.assert_close(ens(x), expect)
    with pytest.raises(SpikeDecodeTypeError):
        EnResNet(members=[])


def test_prediction_average_reduces_variance_and_is_seeded():
    torch.manual_seed(0)
    net = noisy_resnet20(a=0.5)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        one = torch.stack([net.eval()(x) for _ in range(8)])
        many = torch.stack([PredictionAverage(net, 8).eval()(x) for _ in range(8)])
    assert float(many.var(0).mean()) < 0.5 * float(one.var(0).mean())
    a = predict_average(net, x, n_samples=3, random_state=4)
    b = predict_average(net, x, n_samples=3, random_state=4)
    assert torch.equal(a, b)  # same seed and code path: bit-identical


# ----------------------------------------------------------------------------- smoothing
class _Threshold(nn.Module):
    """f(x) = 1 if x_0 > t else 0: P(f(x + e) = 0) = Phi((t - x_0) / sigma)."""

    def __init__(self, t: float) -> None:
        super().__init__()
        self.t = t
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        s = (x[:, 0] - self.t) * 100
        return torch.stack([-s, s], 1)


class _Constant(nn.Module):
    def __init__(self, c: int, k: int = 3) -> None:
        super().__init__()
        self.c, self.k = c, k
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        out = torch.zeros(len(x), self.k)
        out[:, self.c] = 1.0
        return out


def test_certify_radius_formula_constant_model():
    # counts[c_A] == n: p_lower = alpha ** (1/n), radius = sigma * Phi^-1(p_lower)
    n, alpha, sigma = 500, 0.01, 0.7
    r = certify(_Constant(2), torch.zeros(4, 5), sigma, n0=10, n=n, alpha=alpha,
                random_state=0)
    p = alpha ** (1 / n)
    np.testing.assert_allclose(r.p_lower, p, rtol=1e-9)
    np.testing.assert_allclose(r.radius, sigma * norm.ppf(p), rtol=1e-9)
    assert (r.prediction == 2).all() and (r.counts[:, 2] == n).all()


def test_certify_known_probability_and_abstain():
    sigma, t = 1.0, 0.8
    f = _Threshold(t)
    # x_0 = 0: p_A = Phi(0.8) = 0.788 for class 0
    r = certify(f, torch.zeros(1, 2), sigma, n0=100, n=20000, alpha=0.001, random_state=0)
    k = r.counts[0, 0]
    assert abs(k / 20000 - norm.cdf(t)) < 0.015
    p_lo = beta.ppf(0.001, k, 20000 - k + 1)
    assert np.isclose(r.p_lower[0], p_lo)
    assert np.isclose(r.radius[0], sigma * norm.ppf(p_lo))
    assert r.prediction[0] == 0 and 0.7 < r.radius[0] < t  # below the true distance t
    # on the boundary: p_A ~ 1/2 -> abstain with radius 0
    rb = certify(f, torch.full((3, 2), t), sigma, n0=100, n=2000, random_state=1)
    assert (rb.prediction == ABSTAIN).all() and (rb.radius == 0).all()


def test_certify_reproducible_and_validates():
    f = _Threshold(0.3)
    x = torch.zeros(3, 2)
    a = certify(f, x, 0.5, n0=20, n=200, random_state=3)
    b = certify(f, x, 0.5, n0=20, n=200, random_state=3)
    assert np.array_equal(a.counts, b.counts)
    with pytest.raises(ConfigError, match="sigma"):
        certify(f, x, 0.0)
    with pytest.raises(ConfigError, match="alpha"):
        certify(f, x, 0.5, alpha=1.5)
    with pytest.raises(ConfigError, match="n0"):
        certify(f, x, 0.5, n0=0)


def test_certify_batches_across_inputs_consistently():
    # draws of one input spread over several small batches are counted for that input
    f = _Threshold(0.0)
    x = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.2, 0.0]])
    a = certify(f, x, 0.5, n0=100, n=3000, batch_size=7, common_noise=True, random_state=0)
    b = certify(f, x, 0.5, n0=100, n=3000, batch_size=10000, common_noise=True,
                random_state=0)
    c = certify(f, x, 0.5, n0=100, n=3000, batch_size=7, common_noise=False, random_state=0)
    d = certify(f, x, 0.5, n0=100, n=3000, batch_size=500, common_noise=False, random_state=0)
    for r in (a, b, c, d):
        assert (r.counts.sum(1) == 3000).all() and r.prediction.tolist() == [0, 1, 1]
        expect = norm.cdf(np.array([1.0, -1.0, -0.2]) / 0.5)  # P(class 0)
        np.testing.assert_allclose(r.counts[:, 0] / 3000, expect, atol=0.03)


def _sign_model():
    # f(x) = class 1 iff x > 0 (1-D): P(f(x + e) = 1) = Phi(x / sigma) exactly
    f = nn.Linear(1, 2)
    with torch.no_grad():
        f.weight.copy_(torch.tensor([[-1.0], [1.0]]))
        f.bias.zero_()
    return f


def test_certify_default_draws_independent_noise_per_input():
    # science audit item 7: by default identical inputs must not share their noise draws
    f, sigma, n = _sign_model(), 0.5, 100
    x = torch.full((200, 1), 0.1)
    k = certify(f, x, sigma, n0=20, n=n, random_state=0).counts[:, 1]
    p = norm.cdf(0.1 / sigma)
    # independent draws: k ~ Binomial(n, p) i.i.d. over the 200 inputs, so the sample
    # variance over the inputs / n p (1 - p) ~ chi2_199 / 199 (sd 0.1): 0.6-1.5 is > 4 sd
    assert 0.6 < k.var(ddof=1) / (n * p * (1 - p)) < 1.5
    # the explicit speed option shares the draws: identical inputs, identical counts
    shared = certify(f, x, sigma, n0=20, n=n, common_noise=True, random_state=0)
    assert (shared.counts == shared.counts[0]).all()


def test_certify_default_false_certificates_are_not_clustered():
    # audit item 7's check, small: 40 identical inputs at distance 0.3 from the boundary,
    # 60 runs. A certificate is false if it certifies the wrong class or a radius beyond 0.3.
    f, N, alpha = _sign_model(), 40, 0.2
    x = torch.full((N, 1), 0.3)

    def n_false(rep, **kw):
        r = certify(f, x, 0.5, n0=50, n=200, alpha=alpha, random_state=rep, **kw)
        return int(((r.prediction >= 0) & ((r.prediction != 1) | (r.radius > 0.3))).sum())

    for kw, lo, hi in (({}, 0.0, 2.5), ({"common_noise": True}, 10.0, np.inf)):
        fails = np.array([n_false(rep, **kw) for rep in range(60)])
        q = fails.mean() / N
        if not kw:  # each certificate keeps its level (exact rate here: 0.199; sd 0.008)
            assert q < alpha + 0.05
        # independent certificates: var(# false) ~ binomial N q (1 - q) (ratio 1.08
        # measured; the ratio's sd is ~0.2 over 60 runs); shared draws make them all-or-
        # nothing, ratio ~N = 40 (measured 41)
        ratio = fails.var(ddof=1) / (N * q * (1 - q))
        assert lo < ratio < hi, (kw, ratio)


def test_smooth_predict_abstains_on_boundary():
    f = _Threshold(0.0)
    out = smooth_predict(f, torch.tensor([[-2.0, 0], [2.0, 0], [0.0, 0]]), 0.5, n=500,
                         alpha=0.001, random_state=0)
    assert out.tolist() == [0, 1, ABSTAIN]


def test_certified_accuracy_curve_monotone():
    rng = np.random.default_rng(0)
    pred = rng.integers(-1, 3, size=200)
    rad = np.where(pred >= 0, rng.uniform(0, 2, 200), 0.0)
    y = rng.integers(0, 3, 200)
    ca = certified_accuracy((pred, rad), y, radii=np.linspace(0, 2, 11))
    v = ca.values
    assert np.all(np.diff(v) <= 0)
    assert np.isclose(v[0], np.mean(pred == y))
    assert ca.dims == ("radius",)


def test_layer_noise_by_name_and_stochastic_flag():
    from spikedecode.robust.attacks import is_stochastic

    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    ln = LayerNoise("1", kind="relative", scale=0.5, test_time=True)
    x = torch.randn(32, 3)
    train(net, (x, (x[:, 0] > 0).long()), max_epochs=1, batch_size=16, random_state=0,
          callbacks=[ln])
    net.eval()
    with torch.no_grad():
        assert not torch.equal(net(x), net(x))  # still attached (test_time)
    ln.detach()
    with pytest.raises(ConfigError, match="not a submodule"):
        LayerNoise("nope").attach(net)
    noisy = noisy_resnet20(a=0.1)
    assert is_stochastic(noisy) and not is_stochastic(set_noise(noisy, False))


def test_lazy_reexport_from_robust():
    import spikedecode.robust as R
    from spikedecode.robust import noise, resnet, smoothing

    for mod, names in ((noise, ("DataNoise", "CountNoise", "LayerNoise", "gaussian_noise")),
                       (smoothing, ("certify", "smooth_predict", "certified_accuracy",
                                    "PredictionAverage")),
                       (resnet, ("noisy_resnet20", "EnResNet", "resnet20"))):
        for name in names:
            assert getattr(R, name) is getattr(mod, name)


# ------------------------------------------------- the noisy block's custom autograd Function
def _plain_noisy(blk, x):
    """The reference: the autograd graph of ``out + a * std(out) * randn_like(out)``."""
    from spikedecode.robust.resnet import _fast_std

    out = blk.residual_sum(x)
    return torch.addcmul(out, torch.randn_like(out), blk.a * _fast_std(out, blk.per_sample))


def _grads(blk, x, fn, seed):
    blk.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    torch.manual_seed(seed)
    y = fn(blk, x)
    w = torch.linspace(-1.0, 2.0, y.numel()).reshape(y.shape)  # a non-uniform upstream grad
    (y * w).sum().backward()
    return y.detach(), x.grad, [p.grad.clone() for p in blk.parameters()]


@pytest.mark.parametrize("per_sample", [True, False])
@pytest.mark.parametrize(("cin", "cout", "stride"), [(4, 4, 1), (4, 8, 2)])
def test_noisy_block_gradient_equals_plain_graph(per_sample, cin, cout, stride):
    # same seed: the same draws; the Function's gradient (through the std too) equals the
    # one autograd derives from the plain formula, w.r.t. the input (EOT) and the weights
    torch.manual_seed(1)
    blk = NoisyResidualBlock(cin, cout, stride, a=0.7, per_sample=per_sample).train()
    x = torch.randn(3, cin, 8, 8) * torch.tensor([1.0, 3.0, 0.2]).reshape(3, 1, 1, 1)
    y1, gx1, gp1 = _grads(blk, x, lambda b, z: b(z), seed=5)
    y2, gx2, gp2 = _grads(blk, x, _plain_noisy, seed=5)
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx1, gx2, rtol=1e-4, atol=1e-5)
    for a, b in zip(gp1, gp2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # the std term matters: without it the gradient differs (so the check above can fail)
    def no_std_grad(b, z):
        out = b.residual_sum(z)
        from spikedecode.robust.resnet import _fast_std

        std = _fast_std(out, b.per_sample).detach()
        return torch.addcmul(out, torch.randn_like(out), b.a * std)

    _, gx3, _ = _grads(blk, x, no_std_grad, seed=5)
    assert not torch.allclose(gx1, gx3, rtol=1e-3, atol=1e-4)


def test_noisy_block_same_seed_same_output_and_draws():
    torch.manual_seed(0)
    net = noisy_resnet20(a=0.3).train()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    torch.manual_seed(11)
    a = net(x)
    torch.manual_seed(11)
    b = net(x)
    assert torch.equal(a, b)
    torch.manual_seed(12)
    assert not torch.equal(a, net(x))
    # the no-grad path draws the same numbers from the global generator as the grad path
    torch.manual_seed(11)
    with torch.no_grad():
        c = net(x)
    torch.testing.assert_close(a.detach(), c, rtol=1e-5, atol=1e-5)


def test_noisy_block_double_backward_equals_plain_graph():
    # create_graph=True (a Jacobian penalty through the noisy block) stays exact
    torch.manual_seed(2)
    blk = NoisyResidualBlock(4, 4, a=0.5).train()
    x0 = torch.randn(2, 4, 6, 6)

    def penalty(fn):
        blk.zero_grad(set_to_none=True)
        x = x0.clone().requires_grad_(True)
        torch.manual_seed(3)
        y = fn(blk, x)
        (gx,) = torch.autograd.grad((y * y).sum(), x, create_graph=True)
        gx.pow(2).sum().backward()
        return gx.detach(), [p.grad.clone() for p in blk.parameters()]

    g1, p1 = penalty(lambda b, z: b(z))
    g2, p2 = penalty(_plain_noisy)
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-5)
    for a, b in zip(p1, p2):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_noisy_block_constant_output_gradient():
    # a constant residual sum has zero variance: the std is clamped and its gradient is 0
    blk = NoisyResidualBlock(2, 2, a=0.5).train()
    for p in blk.parameters():
        torch.nn.init.zeros_(p)
    x = torch.full((2, 2, 4, 4), 3.0)
    _, gx1, _ = _grads(blk, x, lambda b, z: b(z), seed=0)
    _, gx2, _ = _grads(blk, x, _plain_noisy, seed=0)
    torch.testing.assert_close(gx1, gx2)
    assert torch.isfinite(gx1).all()
