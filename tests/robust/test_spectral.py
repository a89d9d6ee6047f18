"""Tests of robust.spectral, .spectra, .whitening, .jacobian: 1/n penalty, spectra, controls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spikedecode.errors import ConfigError, SpikeDecodeTypeError
from spikedecode.robust.jacobian import JacobianRegularizer, jacobian_penalty
from spikedecode.robust.spectra import (
    effective_dimension,
    eigenspectrum,
    fit_power_law,
    sensitivity_map,
)
from spikedecode.robust.spectral import SmallBatchWarning, SpectralRegularizer, spectral_penalty
from spikedecode.robust.whitening import Whitening, whiten
from spikedecode.training import TrainState, train


def _tiny_net(n_in=6, width=12, n_out=3, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, width), nn.Tanh(), nn.Linear(width, n_out)).to(dtype)


def _state(module):
    return TrainState(module=module, optimizer=None, device=torch.device("cpu"), generator=None,
                      history=None, max_epochs=1)


def _low_rank_data(n=400, d=20, rank=3, noise=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, rank, generator=g)
    x = z @ torch.randn(rank, d, generator=g) + noise * torch.randn(n, d, generator=g)
    y = (z[:, 0] > 0).long() + (z[:, 1] > 0).long()
    return x, y


# ------------------------------------------------------------------ lambda_hat


def test_lambda_hat_equals_exact_eigenvalues_when_batch_is_epoch_data():
    x = torch.randn(200, 6, generator=torch.Generator().manual_seed(1))
    net = _tiny_net()
    reg = SpectralRegularizer("1", tau=3, X=x).fit_basis(net, x)
    exact = torch.linalg.eigvalsh(torch.cov(net[1](net[0](x)).double().T)).flip(0)
    assert torch.allclose(reg.eigenvalues_[0], exact.detach(), rtol=1e-5, atol=1e-7)
    # the loss term, fed the whole epoch as one batch, estimates exactly those eigenvalues
    reg.attach(net)
    try:
        net.train()
        state = _state(net)
        state.output = net(x)
        pen = reg(state)
    finally:
        reg.detach()
    assert pen.requires_grad and float(pen.detach()) >= 0
    assert torch.allclose(reg.last_eigs_[0].double(), exact, rtol=1e-4, atol=1e-7)


def test_penalty_is_zero_on_an_exact_power_law_and_matches_the_formula():
    N, tau, alpha = 40, 5, 1.0
    g = torch.Generator().manual_seed(0)
    lam = torch.arange(1, N + 1, dtype=torch.float64) ** -alpha
    # activations whose sample covariance is exactly diag(lam): whitened Gaussian, rescaled
    z = torch.randn(500, N, generator=g, dtype=torch.float64)
    z = z - z.mean(0)
    L = torch.linalg.cholesky(torch.cov(z.T))
    a = torch.linalg.solve_triangular(L, z.T, upper=False).T * lam.sqrt()
    eye = torch.eye(N, dtype=torch.float64)
    # the whitened covariance is diag(lam) only up to float64 rounding (~1e-14 relative), and
    # max(0, .) passes positive rounding residues through: 1e-12 bounds them (5.6e-18 measured)
    # while a penalty that were not zero on the law would be O(1)
    assert float(spectral_penalty(a, eye, exponent=alpha, tau=tau)) == pytest.approx(0, abs=1e-12)
    # doubling the tail beyond tau gives (1 + 1) per term: (2 - 1)^2 + relu(1)
    a2 = a.clone()
    a2[:, tau:] *= 2 ** 0.5
    expected = 2.0 * (N - tau) / N
    # same rounding residues as above (measured relative error 1e-15)
    assert float(spectral_penalty(a2, eye, exponent=alpha, tau=tau)) == pytest.approx(expected,
                                                                                   rel=1e-9)


@pytest.mark.parametrize("alpha, tau", [(1.0, 2), (0.5, 2), (0.8, 3)])
def test_anchored_term_sits_on_the_kink_and_has_relu_zero_gradient(alpha, tau):
    # with kappa anchored to this batch, the n = tau ratio is lam_tau * tau**a / kappa - 1 with
    # kappa = lam_tau * tau**a: the same product on the same values, so it is exactly 0 (no
    # operation-order effect; this is why exact equality is fine here). (alpha, tau) = (0.5, 2)
    # is a case where Python's 2 ** 0.5 and torch's pow differ in the last bit.
    g = torch.Generator().manual_seed(0)
    a = torch.randn(40, 6, generator=g, dtype=torch.float64).requires_grad_(True)
    eye = torch.eye(6, dtype=torch.float64)
    pen = spectral_penalty(a, eye, exponent=alpha, tau=tau, n_max=tau)  # only the n = tau term
    (grad,) = torch.autograd.grad(pen, a)
    assert float(pen.detach()) == 0.0
    # convention at the kink: relu'(0) = 0 (torch's), i.e. the left derivative of max(0, .)
    assert int(torch.count_nonzero(grad)) == 0
    # ... and the right derivative would not be zero: just right of the kink the hinge pulls
    lam_tau = float(a.detach()[:, tau - 1].var())
    right = spectral_penalty(a, eye, exponent=alpha, tau=tau, n_max=tau,
                             kappa=0.999 * lam_tau * tau ** alpha)
    (grad_right,) = torch.autograd.grad(right, a)
    assert float(grad_right.abs().max()) > 1e-3


def _ratios(a, V, alpha, tau, kappa):
    lam = (a - a.mean(0)) @ V
    lam = lam.pow(2).sum(0) / (len(a) - 1)
    n = torch.arange(1, V.shape[1] + 1, dtype=a.dtype)
    return (lam * n ** alpha / kappa - 1.0)[tau - 1:]


def test_penalty_gradient_matches_finite_differences():
    torch.manual_seed(0)
    x = torch.randn(30, 4, dtype=torch.float64)
    lin = nn.Linear(4, 7).double()
    tau = 2
    with torch.no_grad():
        V = torch.linalg.eigh(torch.cov(torch.tanh(lin(x)).T))[1].flip(1)

    def acts(weight):
        return torch.tanh(x @ weight.T + lin.bias)

    def pen(weight, kappa=None, detach=True):
        return spectral_penalty(acts(weight), V, exponent=1.0, tau=tau, kappa=kappa,
                                detach_kappa=detach)

    w = lin.weight.detach().clone().requires_grad_(True)
    with torch.no_grad():
        a0 = acts(w)
        lam_tau = ((a0 - a0.mean(0)) @ V[:, tau - 1]).pow(2).sum() / (len(x) - 1)
        kappa0 = lam_tau * tau
    h = 1e-6
    # fixed kappas off the kink of max(0, .): 1.05 puts the n = tau hinge on its flat side,
    # 0.95 on its sloped side. Every hinge argument is then >= 1e-3 away from 0, while a step
    # of h moves it by ~h * |d ratio / d w| ~ 1e-6, so no difference quotient straddles a kink.
    for kappa1 in (1.05 * kappa0, 0.95 * kappa0):
        with torch.no_grad():
            assert float(_ratios(a0, V, 1.0, tau, kappa1).abs().min()) > 1e-3
        (g,) = torch.autograd.grad(pen(w, kappa1), w)
        fd = torch.zeros_like(w)
        with torch.no_grad():
            for i in range(w.shape[0]):
                for j in range(w.shape[1]):
                    wp, wm = w.clone(), w.clone()
                    wp[i, j] += h
                    wm[i, j] -= h
                    fd[i, j] = (pen(wp, kappa1) - pen(wm, kappa1)) / (2 * h)
        # float64 central differences: truncation O(h^2) ~ 1e-12, rounding ~ 1e-16 * |pen| / h
        # ~ 1e-10, so rtol=1e-5 / atol=1e-9 leave a wide margin while a wrong term (e.g. a
        # missing hinge or a missing 1/N) is off by O(1)
        assert torch.allclose(g, fd, rtol=1e-5, atol=1e-9)
        assert float(g.abs().max()) > 1e-4  # not a trivially zero gradient

    # the default (kappa anchored to the batch and detached) is the gradient of the n > tau
    # terms at a frozen kappa: the n = tau term sits on its kink and contributes 0 (see the
    # test above). Reference: the n > tau terms written out, kappa0 a constant.
    def tail_only(weight):
        r = _ratios(acts(weight), V, 1.0, tau, kappa0)[1:]
        return (r.pow(2) + torch.relu(r)).sum() / V.shape[1]

    with torch.no_grad():
        assert float(_ratios(a0, V, 1.0, tau, kappa0)[1:].abs().min()) > 1e-3
    (g_default,) = torch.autograd.grad(pen(w), w)
    (g_ref,) = torch.autograd.grad(tail_only(w), w)
    # kappa0 here (one column of V) and the function's own kappa (all columns at once) may
    # differ by a few ulps, as the matmuls sum in different orders; a relative change d in
    # kappa changes the gradient by O(d) ~ 1e-15, hence rtol=1e-8 (a gradient that kept the
    # d lam_tau / d w part would differ by O(1))
    assert torch.allclose(g_default, g_ref, rtol=1e-8, atol=1e-12)
    # with kappa differentiated too, torch's own finite-difference check
    assert torch.autograd.gradcheck(lambda w_: pen(w_, detach=False), (w,))


def test_subsampled_directions_are_unbiased():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 30, generator=g, dtype=torch.float64) * torch.linspace(2, 0.1, 30)
    V = torch.linalg.eigh(torch.cov(a.T))[1].flip(1)
    exact = float(spectral_penalty(a, V, tau=4))
    # every tail direction at once: the exact value, up to rounding (the subsampled path
    # multiplies by a gathered V[:, cols], which may sum in another order: ~1e-15 relative)
    assert float(spectral_penalty(a, V, tau=4, directions=torch.arange(4, 30))) == \
        pytest.approx(exact, rel=1e-9)
    draws = [float(spectral_penalty(a, V, tau=4, directions=4 + torch.randperm(26, generator=g)[:5]))
             for _ in range(3000)]
    assert np.mean(draws) == pytest.approx(exact, rel=0.05)
    assert np.std(draws) > 0


def test_regularizer_validates_its_arguments():
    net = _tiny_net()
    with pytest.raises(ConfigError, match="not a submodule"):
        SpectralRegularizer("nope").attach(net)
    with pytest.raises(ConfigError, match="exponent has 2 values for 1 layers"):
        SpectralRegularizer("1", exponent=[1.0, 0.5]).attach(net)
    with pytest.raises(ConfigError, match="tau == 0"):
        SpectralRegularizer("1", tau=0).attach(net)
    with pytest.raises(SpikeDecodeTypeError, match="layer must be"):
        SpectralRegularizer(3.5).attach(net)
    with pytest.raises(ConfigError, match="tau == 20"):
        spectral_penalty(torch.randn(30, 5), torch.eye(5), tau=20)


def test_small_batch_warns_once():
    x, y = _low_rank_data(n=64, d=20)
    net = _tiny_net(n_in=20, width=32, n_out=3)
    reg = SpectralRegularizer("1", tau=2)
    with pytest.warns(SmallBatchWarning, match="smaller than the width 32"):
        train(net, (x, y), loss_terms=[reg], max_epochs=2, batch_size=16, random_state=0,
              device="cpu")


def test_per_layer_alpha_and_conv_layers_are_flattened():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(2 * 4 * 4, 8), nn.Tanh(), nn.Linear(8, 2))
    x = torch.rand(96, 1, 4, 4)
    y = (x.mean((1, 2, 3)) > 0.5).long()
    reg = SpectralRegularizer(["1", net[4]], exponent=[1.0, 0.8], tau=2, X=x, random_state=0)
    hist = train(net, (x, y), loss_terms=[reg], max_epochs=2, batch_size=48, random_state=0,
                 device="cpu")
    assert [tuple(b.shape) for b in reg.bases_] == [(32, 32), (8, 8)]
    assert np.isfinite(hist["term/spectral"]).all()


def _fit_alpha(net, x, layer, n_min=3, n_max=None):
    return fit_power_law(eigenspectrum(net, x, layer), n_min=n_min, n_max=n_max).exponent


def test_regularized_spectrum_moves_toward_one_over_n():
    # low-rank inputs: cross-entropy training alone collapses the hidden spectrum (alpha ~3)
    x, y = _low_rank_data(n=512, d=48, rank=3, noise=0.3)
    kw = dict(max_epochs=60, batch_size=128, lr=1e-2, random_state=0, device="cpu")
    van = _tiny_net(n_in=48, width=24, n_out=3, seed=1)
    train(van, (x, y), **kw)
    reg_net = _tiny_net(n_in=48, width=24, n_out=3, seed=1)
    reg = SpectralRegularizer("1", tau=3, beta=2.0, X=x)
    hist = train(reg_net, (x, y), loss_terms=[reg], **kw)
    a_van = _fit_alpha(van, x, "1")
    a_reg = _fit_alpha(reg_net, x, "1")
    assert abs(a_van - 1.0) > 1.5, a_van
    assert abs(a_reg - 1.0) < 0.5, a_reg
    assert hist["term/spectral"][-1] < max(hist["term/spectral"])


def test_regularizer_on_lstm_hidden_state_through_train():
    torch.manual_seed(0)

    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 8, batch_first=True)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    x = torch.randn(64, 5, 3)
    y = (x[:, :, 0].sum(1) > 0).long()
    net = Seq()
    reg = SpectralRegularizer("lstm", tau=2)  # X=None: basis from each epoch's first batch
    hist = train(net, (x, y), loss_terms=[reg], max_epochs=2, batch_size=32, random_state=0,
                 device="cpu")
    assert reg.bases_[0].shape == (8, 8)
    assert len(reg.last_eigs_[0]) == 8
    assert np.isfinite(hist["term/spectral"]).all()


def _penalty_of_spectrum(ev, tau, alpha=1.0):
    # eq. 2 evaluated in the layer's own eigenbasis (the eigenvalues are then exact)
    ev = np.asarray(ev, dtype=float)
    n = np.arange(1, len(ev) + 1)
    r = ev[tau - 1:] * n[tau - 1:] ** alpha / (ev[tau - 1] * tau ** alpha) - 1
    return float((r ** 2 + np.maximum(r, 0)).sum() / len(ev))


def test_regularizer_in_a_torch_decoder():
    dec = pytest.importorskip("spikedecode.decoders")
    rng = np.random.default_rng(0)
    X = rng.poisson(2.0, size=(120, 3, 4)).astype("float32")
    y = (X[:, :, 0].sum(1) > 6).astype(int)
    kw = dict(hidden_size=8, num_layers=1, max_epochs=20, batch_size=64, random_state=0,
              device="cpu", patience=None)
    reg = SpectralRegularizer("lstm", tau=2, beta=2.0)
    clf = dec.LSTMDecoder(loss_terms=[reg], **kw).fit(X, y)
    van = dec.LSTMDecoder(**kw).fit(X, y)  # same seed, same initial weights, no penalty
    assert reg.bases_[0].shape == (8, 8)
    # the penalty changed training: other weights than the unregularised fit ...
    w_reg = clf.module_.state_dict()
    w_van = van.module_.state_dict()
    assert any(not torch.allclose(w_reg[k], w_van[k]) for k in w_reg)
    # ... the logged spectral term fell during training (0.675 -> 0.446 measured) ...
    term = [e["term/spectral"] for e in clf.history_.epochs]
    assert term[-1] < 0.85 * term[0], term
    # ... and the final hidden spectrum is closer to 1/n than without it (0.228 vs 0.261)
    xt = torch.from_numpy(X)
    pen_reg = _penalty_of_spectrum(eigenspectrum(clf.module_, xt, "lstm").values, tau=2)
    pen_van = _penalty_of_spectrum(eigenspectrum(van.module_, xt, "lstm").values, tau=2)
    assert pen_reg < pen_van, (pen_reg, pen_van)


# ---------------------------------------------------------------------- spectra


def test_eigenspectrum_is_ordered_and_sums_to_total_variance():
    x = torch.randn(300, 6, generator=torch.Generator().manual_seed(0))
    net = _tiny_net()
    spec = eigenspectrum(net, (x, None), "1", batch_size=64)  # streamed in 5 batches
    acts = net[1](net[0](x)).detach().double().numpy()
    assert spec.dims == ("component",) and list(spec["component"].values[:2]) == [1, 2]
    assert np.all(np.diff(spec.values) <= 1e-12)
    assert float(spec.sum()) == pytest.approx(acts.var(0, ddof=1).sum(), rel=1e-6)
    assert spec.attrs["n_samples"] == 300


@pytest.mark.parametrize("alpha", [0.6, 1.0, 1.6])
def test_fit_power_law_recovers_alpha_from_sampled_spectra(alpha):
    rng = np.random.default_rng(0)
    d, n = 100, 5000
    lam = np.arange(1, d + 1) ** -alpha
    z = rng.standard_normal((n, d)) * np.sqrt(lam)
    q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    ev = np.linalg.eigvalsh(np.cov((z @ q.T).T))[::-1]
    fit = fit_power_law(ev, n_min=10, n_max=60)
    assert fit.exponent == pytest.approx(alpha, abs=0.08)
    assert fit.ci[0] < fit.exponent < fit.ci[1]
    # multiplicative noise on an exact law: the interval covers the truth
    noisy = lam * np.exp(0.05 * rng.standard_normal(d))
    fit2 = fit_power_law(noisy, n_min=10)
    assert fit2.ci[0] <= alpha <= fit2.ci[1]
    assert fit2.predict([10])[0] == pytest.approx(10.0 ** -alpha, rel=0.1)


def test_effective_dimension():
    assert effective_dimension([1.0] * 10) == 9
    assert effective_dimension(np.r_[100.0, np.zeros(5)]) == 1
    with pytest.raises(ConfigError, match="threshold"):
        effective_dimension([1.0, 2.0], threshold=1.5)


# -------------------------------------------------------------------- whitening


def test_whitening_gives_identity_covariance_and_differentiates():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=g, dtype=torch.float64) @ torch.randn(4, 4, generator=g,
                                                                              dtype=torch.float64)
    z = whiten(x, jitter=0.0)
    # float64 rounding through the Cholesky solve: measured max error 9e-15
    assert torch.allclose(torch.cov(z.T), torch.eye(4, dtype=torch.float64), atol=1e-10)
    xs = x[:12].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: whiten(t, jitter=1e-3), (xs,))
    layer = Whitening(4, jitter=0.0, momentum=1.0).double()
    layer.train()
    layer(x)
    layer.eval()
    assert torch.allclose(torch.cov(layer(x).T), torch.eye(4, dtype=torch.float64), atol=1e-8)


# ---------------------------------------------------------------------- Jacobian


def test_jacobian_penalty_estimates_the_frobenius_norm():
    W = torch.tensor([[1.0, 2.0, 0.0], [0.0, 3.0, -1.0]], dtype=torch.float64)
    x = torch.randn(50, 3, dtype=torch.float64, requires_grad=True)
    out = x @ W.T
    est = jacobian_penalty(x, out, n_projections=400, generator=torch.Generator().manual_seed(0))
    assert float(est) == pytest.approx(0.5 * float((W ** 2).sum()), rel=0.05)


def test_jacobian_regularizer_shrinks_the_jacobian():
    x, y = _low_rank_data(n=256, d=20)
    kw = dict(max_epochs=15, batch_size=64, lr=1e-2, random_state=0, device="cpu")
    van = _tiny_net(n_in=20, width=16, seed=2)
    train(van, (x, y), **kw)
    jr = _tiny_net(n_in=20, width=16, seed=2)
    train(jr, (x, y), loss_terms=[JacobianRegularizer(1.0, n_projections=2, random_state=0)],
          **kw)

    def jnorm(net):
        xx = x[:100].clone().requires_grad_(True)
        return float(jacobian_penalty(xx, net(xx), n_projections=50,
                                      generator=torch.Generator().manual_seed(1)).detach())

    assert jnorm(jr) < 0.5 * jnorm(van)


# ------------------------------------------------------------------ sensitivity


def test_sensitivity_map_matches_finite_differences():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.Tanh()).double()
    x = torch.randn(40, 5, dtype=torch.float64)
    s = sensitivity_map(net, x, n=[1, 3], layer="1", batch_size=16)
    assert s.shape == (2, 40, 5)
    h = 1e-6
    for k, n in enumerate([1, 3]):
        for i, j in [(0, 0), (7, 3), (39, 4)]:
            xp, xm = x.clone(), x.clone()
            xp[i, j] += h
            xm[i, j] -= h
            fd = (eigenspectrum(net, xp, "1").values[n - 1]
                  - eigenspectrum(net, xm, "1").values[n - 1]) / (2 * h)
            assert s[k, i, j] == pytest.approx(fd, rel=1e-4, abs=1e-9)


def test_plots_return_figures(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from spikedecode.plotting.spectral import plot_sensitivity_maps, plot_spectrum

    x = torch.randn(100, 6)
    net = _tiny_net()
    spec = eigenspectrum(net, x, "1")
    fig = plot_spectrum({"tiny": spec}, n_min=2)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) >= 2
    maps = np.random.default_rng(0).standard_normal((2, 4, 1, 5, 5))
    fig2 = plot_sensitivity_maps(maps, ns=[1, 2])
    assert len(fig2.axes) >= 2
    fig2.savefig(tmp_path / "s.png")


def test_streamed_covariance_matches_the_direct_one():
    from spikedecode.robust.spectra import layer_covariance

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 50), nn.Tanh())
    x = torch.randn(3000, 20) + 3.0  # an offset tests the merge of batch means
    mean, cov = layer_covariance(net, x, "1", batch_size=700)  # 5 uneven batches
    with torch.no_grad():
        acts = net(x).double()
    assert torch.allclose(mean, acts.mean(0), atol=1e-6)
    assert torch.allclose(cov, torch.cov(acts.T), atol=1e-6)
    assert torch.equal(cov, cov.T)


# ------------------------------------------------------------------ n_max (fit/penalty range)


def test_n_max_restricts_the_sum_and_keeps_the_default():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(400, 20, generator=g, dtype=torch.float64) * torch.arange(1, 21) ** -0.8
    V = torch.linalg.eigh(torch.cov(a.T))[1].flip(1)
    tau, n_max = 3, 12
    lam = ((a - a.mean(0)) @ V).pow(2).sum(0) / (len(a) - 1)
    n = torch.arange(1, 21, dtype=torch.float64)
    r = lam * n / (lam[tau - 1] * tau) - 1
    terms = r.pow(2) + torch.relu(r)
    expected = float(terms[tau - 1 : n_max].sum() / 20)
    # the reference multiplies by all of V, the function by V[:, :n_max]: another matmul
    # shape may sum in another order (float64 rounding ~1e-15 relative); one term more or
    # less changes the value by far more than 1e-9
    assert float(spectral_penalty(a, V, tau=tau, n_max=n_max)) == pytest.approx(expected, rel=1e-9)
    # n_max=N and the default n_max=None run the same operations in the same order: exact
    assert float(spectral_penalty(a, V, tau=tau, n_max=20)) == \
        float(spectral_penalty(a, V, tau=tau))
    # the subsampled estimate over [tau, n_max] stays unbiased
    draws = [float(spectral_penalty(a, V, tau=tau, n_max=n_max,
                                    directions=tau + torch.randperm(n_max - tau, generator=g)[:3]))
             for _ in range(3000)]
    assert np.mean(draws) == pytest.approx(expected, rel=0.05)
    with pytest.raises(ConfigError, match="n_max"):
        spectral_penalty(a, V, tau=tau, n_max=2)
    with pytest.raises(ConfigError, match="n_max"):
        spectral_penalty(a, V, tau=tau, n_max=21)
    with pytest.raises(ConfigError, match="directions"):
        spectral_penalty(a, V, tau=tau, n_max=n_max, directions=torch.tensor([15]))
    with pytest.raises(ConfigError, match="n_max"):
        SpectralRegularizer("1", tau=5, n_max=4).attach(_tiny_net())


def _wide_linear(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 24), nn.Identity(), nn.Linear(24, 2))


def test_layer_wider_than_its_input_rank_needs_n_max():
    """Regression (issue 6, MNIST shallow net): a layer of width 24 fed 6-dim inputs has at
    most 6 non-zero eigenvalues. Eq. (2) over every n >= tau then has a floor of
    (24 - 6) / 24 that no training removes (each zero eigenvalue costs exactly 1 and has no
    gradient); restricted to the reachable range (n_max = 6) it trains to ~0.
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 6, generator=g) * torch.arange(1, 7) ** -1.5  # a steep spectrum
    y = (x[:, 0] > 0).long()
    zero_ce = lambda out, target: nn.functional.cross_entropy(out, target) * 0.0  # noqa: E731
    kw = dict(loss=zero_ce, max_epochs=40, batch_size=200, lr=2e-2, random_state=0,
              device="cpu")
    full = SpectralRegularizer("1", tau=2, X=x)
    h_full = train(_wide_linear(), (x, y), loss_terms=[full], **kw)
    assert min(h_full["term/spectral"]) >= 18 / 24 - 2e-3  # float32 round-off of the zeros
    ranged = SpectralRegularizer("1", tau=2, X=x, n_max=6)
    net = _wide_linear()
    a0 = fit_power_law(eigenspectrum(net, x, "1"), n_min=2, n_max=6).exponent
    h_r = train(net, (x, y), loss_terms=[ranged], **kw)
    a1 = fit_power_law(eigenspectrum(net, x, "1"), n_min=2, n_max=6).exponent
    assert h_r["term/spectral"][-1] < 0.2 * h_r["term/spectral"][0]
    assert abs(a0 - 1.0) > 1.0, a0
    assert a1 == pytest.approx(1.0, abs=0.2)
