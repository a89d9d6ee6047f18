"""Robustness curves, gradient-masking flags and the curve figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

from spikedecode.datasets.images import load_digits
from spikedecode.errors import AttackError, GradientMaskingWarning
from spikedecode.robust.attacks import FGSM
from spikedecode.robust.evaluate import (
    accuracy,
    check_curve,
    check_gradient_masking,
    robustness_curve,
)
from spikedecode.robust.models import MLP, train_image_model


@pytest.fixture(scope="module")
def trained():
    data = load_digits(random_state=0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = MLP(n_in=64, hidden_layer_sizes=(64, 64))
    train_image_model(net, data, max_epochs=25, lr=3e-3, random_state=0, device="cpu")
    return net.eval(), data


def test_robustness_curve(trained):
    net, data = trained
    eps = [0.0, 0.05, 0.1, 0.2]
    curve = robustness_curve(net, data, ["fgsm", "pgd"], eps=eps, limit=200,
                             attack_kwargs={"n_steps": 10}, random_state=0)
    assert curve.dims == ("eps", "attack") and curve.name == "accuracy"
    assert list(curve["attack"].values) == ["fgsm", "pgd"]
    assert curve.attrs["n_samples"] == 200 and curve.attrs["dataset"] == "digits"
    clean = accuracy(net, data.test[0][:200], data.test[1][:200])
    assert np.allclose(curve.sel(eps=0.0).values, clean) and clean > 0.9
    for a in ("fgsm", "pgd"):
        vals = curve.sel(attack=a).values
        assert np.all(np.diff(vals) <= 0.01)  # accuracy falls with the budget
    assert float(curve.sel(eps=0.2, attack="pgd")) < 0.05
    # PGD at least as strong as FGSM
    assert np.all(curve.sel(attack="pgd").values <= curve.sel(attack="fgsm").values + 0.01)
    # reproducible with the same random_state (same seed, same code path: exact equality)
    again = robustness_curve(net, data, ["pgd"], eps=eps, limit=200,
                             attack_kwargs={"n_steps": 10}, random_state=0)
    assert np.array_equal(again.sel(attack="pgd").values, curve.sel(attack="pgd").values)
    assert check_curve(curve, warn=False) == {"fgsm": False, "pgd": False}


def test_curve_with_lbfgs_and_objects(trained):
    net, data = trained
    x, y = data.test[0][:30], data.test[1][:30]
    curve = robustness_curve(net, (x, y), {"lbfgs": "lbfgs", "fgsm01": FGSM(clip=(0.0, 1.0))},
                             eps=[0.0, 0.1, 1.0],
                             attack_kwargs={"c_search": 4, "max_iter": 20})
    lb = curve.sel(attack="lbfgs").values
    assert lb[0] == pytest.approx(accuracy(net, x, y))
    assert lb[0] >= lb[1] >= lb[2] and lb[2] < 0.2  # eps=1 covers every L-BFGS adversarial
    with pytest.raises(AttackError, match="eps"):
        robustness_curve(net, (x, y), "fgsm", eps=[-1.0])
    with pytest.raises(AttackError, match="unique"):
        robustness_curve(net, (x, y), ["fgsm", "fgsm"], eps=[0.1])


class _Masked(nn.Module):
    """Quantises its input: zero gradients almost everywhere (a classic masking defence)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(torch.round(x * 4) / 4)


class _Noisy(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x + 0.05 * torch.randn_like(x))


def test_masking_checks_pass_on_plain_model(trained):
    net, data = trained
    x, y = data.test[0][:100], data.test[1][:100]
    report = check_gradient_masking(net, x, y, eps=0.1, n_steps=10, random_state=0)
    assert report.ok, report.flags
    assert report.accuracies["pgd_large_eps"] < 0.1


def test_masking_checks_flag_quantised_and_noisy_models(trained):
    net, data = trained
    x, y = data.test[0][:100], data.test[1][:100]
    with pytest.warns(GradientMaskingWarning, match="noise in the eps-ball|should reach"):
        report = check_gradient_masking(_Masked(net), x, y, eps=0.2, n_steps=10, random_state=0)
    assert report.flags["noise_beats_gradient"] or report.flags["large_eps_not_zero"]
    with pytest.warns(GradientMaskingWarning, match="identical calls"):
        report = check_gradient_masking(_Noisy(net), x, y, eps=0.1, n_steps=5, random_state=0)
    assert report.flags["stochastic_logits"]


def test_check_curve_warns_on_rising_accuracy():
    import xarray as xr

    c = xr.DataArray([[0.9], [0.5], [0.7]], dims=("eps", "attack"),
                     coords={"eps": [0.0, 0.1, 0.2], "attack": ["pgd"]})
    with pytest.warns(GradientMaskingWarning, match="rises with eps"):
        assert check_curve(c) == {"pgd": True}


def test_plot_robustness_curves(trained):
    from spikedecode.plotting.robust import plot_adversarial_examples, plot_robustness_curves

    net, data = trained
    curve = robustness_curve(net, data, ["fgsm"], eps=[0.0, 0.1], limit=50, random_state=0)
    fig = plot_robustness_curves({"mlp": curve}, title="digits", note="test")
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and ax.get_ylabel() == "accuracy"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curve.sel(attack="fgsm").values)
    x = data.test[0][:4]
    fig2 = plot_adversarial_examples(x, x.clamp(0, 0.9), y=data.test[1][:4], n=4)
    assert len(fig2.axes) == 12
    import matplotlib.pyplot as plt

    plt.close("all")


def test_cli_robust(tmp_path):
    import json

    from click.testing import CliRunner

    from spikedecode._cli.robust import command

    res = CliRunner().invoke(command, ["--dataset", "digits", "--model", "small_cnn",
                                       "--max-epochs", "2",
                                       "--eps", "0,0.1,0.3", "--attack", "fgsm,pgd",
                                       "--steps", "3", "--n-eval", "60", "--json",
                                       "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["eps"] == [0.0, 0.1, 0.3] and out["n_eval"] == 60
    for a in ("fgsm", "pgd"):
        acc = out["accuracy"][a]
        assert acc[0] == out["clean_accuracy"] and acc[-1] <= acc[0]
    assert json.loads((tmp_path / "results.json").read_text())["model"] == "small_cnn"
    assert (tmp_path / "curve.png").stat().st_size > 1000
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # the CLI closes what it saved
    bad = CliRunner().invoke(command, ["--attack", "deepfool"])
    assert bad.exit_code != 0 and "deepfool" in str(bad.exception)


def test_curve_on_a_count_decoder_with_its_own_labels():
    from spikedecode.decoders import make_decoder

    rng = np.random.default_rng(0)
    y = np.repeat(np.array(["touch/LUM", "latent"]), 30)
    X = rng.poisson(2.0, size=(60, 2, 3)).astype(np.float32)
    X[y == "touch/LUM", :, 0] += 4.0  # counts up to ~10: outside the image box
    est = make_decoder("mlp", hidden_layer_sizes=(8,), max_epochs=20, random_state=0).fit(X, y)
    seen = []

    def spy(model, x, y, *, eps, clip=(0.0, 1.0)):
        seen.append((clip, y.tolist()))
        return x

    curve = robustness_curve(est, (X, y), {"spy": spy, "fgsm": "fgsm"}, eps=[0.0, 2.0],
                             clip=(0.0, None))
    # string labels went through classes_ (sorted: 'latent' = 0, 'touch/LUM' = 1)
    idx = np.searchsorted(est.classes_, y)
    assert seen == [((0.0, None), idx.tolist())]
    clean = float(np.mean(est.predict(X) == y))
    assert float(curve.sel(eps=0.0, attack="fgsm")) == pytest.approx(clean)
    assert float(curve.sel(eps=2.0, attack="spy")) == pytest.approx(clean)  # identity attack
    assert float(curve.sel(eps=2.0, attack="fgsm")) <= clean
    # the image default rejects counts, naming clip; clip in attack_kwargs is refused
    with pytest.raises(AttackError, match="clip"):
        robustness_curve(est, (X, y), "fgsm", eps=[0.5])
    with pytest.raises(AttackError, match="pass robustness_curve"):
        robustness_curve(est, (X, y), "fgsm", eps=[0.5], attack_kwargs={"clip": (0, None)})
    with pytest.raises(AttackError, match="does not know"):
        robustness_curve(est, (X, np.repeat(["a", "b"], 30)), "fgsm", eps=[0.5],
                         clip=(0.0, None))
