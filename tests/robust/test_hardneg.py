"""Tests of spikedecode.robust.hardneg: recorder, volatility, groups, selective dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spikedecode.errors import ConfigError, SpikeDecodeValueError
from spikedecode.robust.evaluate import accuracy
from spikedecode.robust.hardneg import (
    ActivationRecorder,
    GradientMask,
    SelectiveDropoutTrainer,
    dropout_schedule,
    fooling_rate,
    hard_negative_report,
    perturbation_groups,
    project_difference,
    record_activations,
    select_units,
    split_groups,
    unit_volatility,
)


def _mlp(seed: int = 0, n_in: int = 6, width: int = 10, n_out: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, n_out))


def _cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 3))


def _n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


# ----------------------------------------------------------------------------- recorder
def test_recorder_shapes_and_hooks_removed():
    net = _mlp()
    x = torch.rand(37, 6)
    out = ActivationRecorder(net, ["0", "3", "4"]).record(x, batch_size=8)
    assert out["0"].dims == ("sample", "unit")
    assert out["0"].shape == (37, 10) and out["3"].shape == (37, 10) and out["4"].shape == (37, 3)
    np.testing.assert_allclose(out["4"].values, net(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert (out["3"].values >= 0).all()  # after the ReLU
    assert _n_hooks(net) == 0


def test_recorder_conv_flatten_or_keep_and_context_manager_removes_on_error():
    net = _cnn()
    x = torch.rand(5, 1, 6, 6)
    flat = record_activations(net, x, "1")["1"]
    kept = record_activations(net, x, "1", flatten=False)["1"]
    assert flat.shape == (5, 4 * 36)
    assert kept.dims == ("sample", "channel", "row", "col") and kept.shape == (5, 4, 6, 6)
    rec = ActivationRecorder(net, "0")
    with pytest.raises(RuntimeError), rec:
        assert _n_hooks(net) == 1
        net(torch.rand(2, 2, 6, 6))  # wrong channel count
    assert _n_hooks(net) == 0


def test_recorder_rejects_unknown_layer():
    with pytest.raises(ConfigError, match="layer == 'nope'"):
        ActivationRecorder(_mlp(), ["nope"])


def test_recorder_keeps_model_mode():
    net = _mlp()
    net.train()
    record_activations(net, torch.rand(3, 6), "0")
    assert net.training


# ----------------------------------------------------------------------------- volatility
def test_volatility_zero_for_identical_inputs():
    net = _mlp()
    x = torch.rand(20, 6)
    v = unit_volatility(net, "2", x, x.clone())
    assert v.shape == (10,)
    assert np.all(v.values == 0)


def test_volatility_on_hand_made_linear_layer(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    w = rng.normal(size=(5, 4)).astype(np.float32)
    lin = nn.Linear(4, 5)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(w))
        lin.bias.uniform_(-1, 1)  # cancels in the difference
    net = nn.Sequential(lin, nn.Tanh(), nn.Linear(5, 2))
    x = rng.random((30, 4)).astype(np.float32)
    x_adv = x + rng.normal(scale=0.1, size=x.shape).astype(np.float32)
    expected = np.linalg.norm((x_adv - x) @ w.T, axis=0)  # Frobenius norm per unit
    v = unit_volatility(net, "0", x, x_adv)
    np.testing.assert_allclose(v.values, expected, rtol=1e-4)


def test_volatility_conv_unit_is_channel():
    net = _cnn()
    x = torch.rand(4, 1, 6, 6)
    x_adv = x.clone()
    x_adv[:, :, 2, 2] += 1.0
    v = unit_volatility(net, "0", x, x_adv)
    w = net[0].weight.detach()  # (4, 1, 3, 3): a unit impulse changes 9 outputs by w
    expected = np.sqrt(4 * (w**2).sum(dim=(1, 2, 3)).numpy())
    np.testing.assert_allclose(v.values, expected, rtol=1e-4)


def test_volatility_shape_mismatch_raises():
    with pytest.raises(SpikeDecodeValueError, match="x_adv has shape"):
        unit_volatility(_mlp(), "0", torch.rand(3, 6), torch.rand(4, 6))


def test_fooling_rate_mean_equals_top_fraction_and_finds_blamed_unit():
    lin = nn.Linear(3, 10, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.01)
        lin.weight[7] = 5.0  # unit 7 moves most for any perturbation
    net = nn.Sequential(lin)
    x = torch.rand(50, 3)
    x_adv = x + 0.1 * torch.rand(50, 3)
    fr = fooling_rate(net, "0", x, x_adv, top=0.2)
    assert fr.values[7] == 1.0
    assert fr.values.mean() == pytest.approx(0.2)


# ----------------------------------------------------------------------------- groups
def test_perturbation_groups_and_held_out_split():
    y, y_adv = [0, 0, 1, 1, 2, 2, 3], [1, 2, 0, 0, 1, 1, 0]
    assert perturbation_groups(y, y_adv, by="both").tolist() == [
        "0->1", "0->2", "1->0", "1->0", "2->1", "2->1", "3->0"]
    assert set(perturbation_groups(y, y_adv, by="target")) == {"*->0", "*->1", "*->2"}
    g = perturbation_groups(y, y_adv)
    tr, te = split_groups(g, test_size=0.4, random_state=0)
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == len(g)
    assert not set(g[tr]) & set(g[te])  # no group on both sides
    with pytest.raises(ConfigError, match="by == 'x'"):
        perturbation_groups(y, y_adv, by="x")


def test_project_difference_matches_linear_jacobian():
    w = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    lin = nn.Linear(4, 5, bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    net = nn.Sequential(lin)
    x = torch.rand(6, 4)
    x_adv = x + 0.2
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    maps = project_difference(net, "0", x, x_adv, groups=groups)
    assert maps.dims == ("group", "feature") and maps.shape == (2, 4)
    # linear: J = W, delta = W (dx) -> J^T delta = W^T W dx, identical for every pair
    expected = (w.T @ w @ torch.full((4,), 0.2)).numpy()
    np.testing.assert_allclose(maps.sel(group="a").values, expected, rtol=1e-4, atol=1e-5)
    assert _n_hooks(net) == 0


# ----------------------------------------------------------------------------- selective dropout
def test_schedule_formula():
    t = np.arange(6)
    p = dropout_schedule(t, 0.2, 0.3)
    np.testing.assert_allclose(p, 1 - 0.8 * np.exp(-0.3 * t))
    assert p[0] == pytest.approx(0.2) and np.all(np.diff(p) > 0) and p[-1] < 1
    with pytest.raises(ConfigError, match="p0"):
        dropout_schedule(1, 0.0, 0.1)


def test_select_units():
    v = [0.0, 3.0, 1.0, 2.0, 0.5]
    assert select_units(v, 0.4).tolist() == [False, True, False, True, False]
    assert select_units(v, 0.4, selection="all").all()
    r = select_units(v, 0.4, selection="random", random_state=0)
    assert r.sum() == 2


def test_gradient_mask_zeroes_rows_and_restores():
    lin = nn.Linear(3, 4)
    gm = GradientMask(lin, [False, True, False, False]).attach()
    opt = torch.optim.AdamW(lin.parameters(), lr=0.1, weight_decay=0.5)
    w0 = lin.weight.detach().clone()
    lin(torch.ones(5, 3)).pow(2).sum().backward()
    assert lin.weight.grad[[0, 2, 3]].abs().sum() == 0
    opt.step()  # weight decay would move frozen rows; restore undoes it
    gm.restore()
    gm.remove()
    assert torch.equal(lin.weight[[0, 2, 3]], w0[[0, 2, 3]])
    assert not torch.equal(lin.weight[1], w0[1])


def _toy_pairs(seed: int = 0, n: int = 120):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > x[:, 2] + 0.5).long() + (x[:, 3] > 0.7).long()
    x_adv = (x + 0.15 * torch.randn(n, 6, generator=g)).clamp(0, 1)
    return x, x_adv, y


def test_selective_dropout_freezes_non_selected_units():
    net = _mlp(1)
    x, x_adv, y = _toy_pairs()
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    sd = SelectiveDropoutTrainer("2", p=0.3, max_epochs=3, batch_size=16, lr=0.05,
                                 random_state=0).fit(net, x, x_adv, y)
    after = net.state_dict()
    mask = torch.as_tensor(sd.masks_[0])
    # one mask per epoch (recompute="epoch"), each selecting ceil(0.3 * 10) = 3 of the 10
    # units (constant p); which units may change between epochs (checked below via `ever`)
    assert len(sd.masks_) == 3
    assert all(m.dtype == bool and m.shape == (10,) and m.sum() == 3 for m in sd.masks_)
    # other layers untouched, exactly
    for k in ("0.weight", "0.bias", "4.weight", "4.bias"):
        assert torch.equal(before[k], after[k]), k
    # with a constant p and per-epoch recompute, units ever selected may change; units never
    # selected must be bit-identical
    ever = np.any(np.stack(sd.masks_), axis=0)
    frozen = torch.as_tensor(~ever)
    assert frozen.any()
    assert torch.equal(before["2.weight"][frozen], after["2.weight"][frozen])
    assert torch.equal(before["2.bias"][frozen], after["2.bias"][frozen])
    assert not torch.equal(before["2.weight"][mask], after["2.weight"][mask])
    # the caller's requires_grad flags are restored and no hook is left
    assert all(p.requires_grad for p in net.parameters())
    assert all(len(p._backward_hooks or {}) == 0 for p in net.parameters())
    assert sd.n_steps_ == 3 * 8
    assert "adv_train_accuracy" in sd.history_.epochs[-1]


def test_selective_dropout_logs_validation_data_it_is_given():
    from spikedecode.robust.evaluate import accuracy

    net = _mlp(1)
    x, x_adv, y = _toy_pairs()
    sd = SelectiveDropoutTrainer("2", p=0.3, max_epochs=2, batch_size=16, lr=0.05,
                                 random_state=0)
    sd.fit(net, x, x_adv, y, val_data=(x[:20], y[:20]), val_adv_data=(x_adv[:20], y[:20]))
    last = sd.history_.epochs[-1]
    # logged after the last epoch's update, i.e. on the returned network
    assert last["val_clean_accuracy"] == pytest.approx(accuracy(net, x[:20], y[:20]))
    assert last["val_adv_accuracy"] == pytest.approx(accuracy(net, x_adv[:20], y[:20]))
    # nothing of the validation data is left on the trainer
    assert not any(k.startswith("_val") for k in vars(sd))
    sd.fit(net, x, x_adv, y)  # a later fit without validation data logs none
    assert "val_clean_accuracy" not in sd.history_.epochs[-1]


def test_selective_dropout_volatile_units_are_most_volatile_and_schedule_grows():
    net = _mlp(2)
    x, x_adv, y = _toy_pairs(1)
    v = unit_volatility(net, "2", x, x_adv).values
    sd = SelectiveDropoutTrainer("2", p=0.2, schedule=1.0, max_epochs=3, batch_size=32,
                                 n_volatility_pairs=len(x), random_state=0).fit(net, x, x_adv, y)
    top = np.argsort(-v)[:2]
    assert set(np.flatnonzero(sd.masks_[0])) == set(top)
    np.testing.assert_allclose(sd.p_, dropout_schedule(np.arange(3), 0.2, 1.0))
    assert [int(m.sum()) for m in sd.masks_] == [int(np.ceil(p * 10 - 1e-9)) for p in sd.p_]


def test_selective_dropout_step_recompute_and_controls_learn():
    x, x_adv, y = _toy_pairs(2, n=200)
    accs = {}
    for sel in ("volatile", "all"):
        net = _mlp(3)
        base = accuracy(net, x_adv, y)
        sd = SelectiveDropoutTrainer("2", p=0.5, selection=sel, recompute="step",
                                     max_epochs=8, batch_size=25, lr=0.02,
                                     random_state=0).fit(net, x, x_adv, y)
        assert len(sd.masks_) == sd.n_steps_
        accs[sel] = (base, accuracy(net, x_adv, y))
    for base, after in accs.values():
        assert after > base + 0.1  # hard negatives learned, above the untrained net


def test_selective_dropout_bad_params():
    with pytest.raises(ConfigError, match="p == 0"):
        SelectiveDropoutTrainer("2", p=0).fit(_mlp(), *_toy_pairs())
    with pytest.raises(ConfigError, match="no 'weight'"):
        SelectiveDropoutTrainer("1").fit(_mlp(), *_toy_pairs())


def test_hard_negative_report_fresh_attack_is_run_against_given_model():
    net = _mlp()
    x, x_adv, y = _toy_pairs()
    calls = []

    def attack(model, xs, ys):
        calls.append(model)
        return xs.flip(0)

    rep = hard_negative_report(net, x_test=x, y_test=y, x_adv_heldout=x_adv, y_adv_heldout=y,
                               attack=attack, n_fresh=50)
    assert calls == [net]
    assert set(rep) >= {"clean_accuracy", "heldout_accuracy", "fresh_adversarial_accuracy"}
    assert rep["clean_accuracy"] == pytest.approx(accuracy(net, x, y))
    assert rep["fresh_adversarial_accuracy"] == pytest.approx(accuracy(net, x[:50].flip(0),
                                                                       y[:50]))
