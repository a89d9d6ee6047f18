"""Attacks: budgets and domains (property tests), cross-checks with torchattacks, counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spikedecode.datasets.images import load_digits
from spikedecode.errors import AttackError, SpikeDecodeTypeError
from spikedecode.robust.attacks import (
    DEFAULT_EOT_SAMPLES,
    FGSM,
    PGD,
    attack_mode,
    bim,
    count_greedy_attack,
    count_linf_attack,
    fgsm,
    get_attack,
    ifgsm,
    is_stochastic,
    lbfgs_attack,
    pgd,
    targeted_ifgsm_mse,
)
from spikedecode.robust.evaluate import transfer_attack
from spikedecode.robust.models import MLP, train_image_model
from spikedecode.robust.noise import gaussian_noise


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def digits():
    return load_digits(random_state=0)


@pytest.fixture(scope="module")
def digits_mlp(digits):
    net = MLP(n_in=64, hidden_layer_sizes=(64, 64))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = MLP(n_in=64, hidden_layer_sizes=(64, 64))
    train_image_model(net, digits, max_epochs=25, lr=3e-3, random_state=0, device="cpu")
    return net.eval()


def _acc(net, x, y):
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


class CountNet(nn.Module):
    """Tiny decoder over float spike counts (batch, lag, unit)."""

    def __init__(self, lag=3, units=5, n_classes=2):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(lag * units, 16), nn.ReLU(),
                                 nn.Linear(16, n_classes))

    def forward(self, x):
        return self.net(x)


class LSTMNet(nn.Module):
    def __init__(self, units=5, n_classes=2):
        super().__init__()
        self.lstm = nn.LSTM(units, 8, batch_first=True, num_layers=2, dropout=0.5)
        self.head = nn.Linear(8, n_classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def _poisson_counts(n, seed, lag=3, units=5):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    rates = torch.tensor([[1.0] * units, [1.0] * (units // 2) + [3.0] * (units - units // 2)])
    lam = rates[y][:, None, :].expand(n, lag, units)
    return torch.poisson(lam, generator=g).long(), y


@pytest.fixture(scope="module")
def count_model():
    from spikedecode.training import train

    x, y = _poisson_counts(600, 0)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        net = CountNet()
    train(net, (x.float(), y), max_epochs=30, lr=1e-2, random_state=0, device="cpu")
    xt, yt = _poisson_counts(200, 1)
    return net.eval(), xt, yt


# --------------------------------------------------------------------------- property tests
@st.composite
def model_and_batch(draw):
    seed = draw(st.integers(0, 2**16))
    n = draw(st.integers(1, 5))
    shape = draw(st.sampled_from([(3,), (7,), (1, 4, 4), (2, 3, 3)]))
    hidden = draw(st.integers(1, 8))
    n_classes = draw(st.integers(2, 4))
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        d = int(np.prod(shape))
        net = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.Tanh(),
                            nn.Linear(hidden, n_classes))
    x = torch.rand((n, *shape), generator=g)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return net, x, y


@settings(max_examples=25, deadline=None)
@given(mb=model_and_batch(), eps=st.floats(0.0, 0.6, allow_subnormal=False),
       which=st.sampled_from(["fgsm", "bim", "pgd", "pgd_targeted"]))
def test_linf_attacks_stay_in_ball_and_box(mb, eps, which):
    net, x, y = mb
    if which == "fgsm":
        adv = fgsm(net, x, y, eps=eps)
    elif which == "bim":
        adv = bim(net, x, y, eps=eps, n_steps=3)
    elif which == "pgd":
        adv = pgd(net, x, y, eps=eps, n_steps=3, step_size=eps / 2 + 1e-3, generator=0)
    else:
        adv = pgd(net, x, y, eps=eps, n_steps=3, targeted=True, generator=1)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert bool(((adv - x).abs() <= eps).all())
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0


@settings(max_examples=20, deadline=None)
@given(mb=model_and_batch(), eps=st.floats(0.0, 2.0, allow_subnormal=False))
def test_l2_pgd_stays_in_ball_and_box(mb, eps):
    net, x, y = mb
    adv = pgd(net, x, y, eps=eps, norm="l2", n_steps=3, step_size=eps / 2 + 1e-3, generator=0)
    norms = (adv - x).flatten(1).norm(dim=1)
    assert bool((norms <= eps * (1 + 1e-5) + 1e-7).all())
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), eps=st.floats(0.0, 0.5, allow_subnormal=False),
       d=st.integers(1, 12), n_classes=st.integers(2, 5))
def test_fgsm_never_lowers_linear_model_loss(seed, eps, d, n_classes):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = nn.Linear(d, n_classes)
        x = torch.rand(6, d)
        y = torch.randint(0, n_classes, (6,))
    adv = fgsm(net, x, y, eps=eps)
    with torch.no_grad():
        before = F.cross_entropy(net(x).double(), y, reduction="none")
        after = F.cross_entropy(net(adv).double(), y, reduction="none")
    # cross-entropy of a linear model is convex in x: a sign step up the gradient cannot
    # lower it (also when clipping shortens some coordinates)
    assert bool((after >= before - 1e-5).all())


def test_clip_none_and_custom_box():
    net = nn.Linear(3, 2)
    x = torch.full((4, 3), 5.0)
    adv = fgsm(net, x, torch.zeros(4, dtype=torch.long), eps=1.0, clip=None)
    assert bool(((adv - x).abs() <= 1.0).all())
    adv = fgsm(net, x, torch.zeros(4, dtype=torch.long), eps=1.0, clip=(4.5, None))
    assert float(adv.min()) >= 4.5


# --------------------------------------------------------------------------- torchattacks
def test_fgsm_equals_torchattacks(digits_mlp, digits):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits.test
    for eps in (0.05, 0.1, 0.3):
        ours = fgsm(digits_mlp, x, y, eps=eps)
        theirs = torchattacks.FGSM(digits_mlp, eps=eps)(x, y)
        # torchattacks computes clamp(x + eps * sign(g)); float rounding of x + eps can put
        # it one ulp outside the eps-ball, which we undo. Everywhere else: identical.
        inside = (theirs - x).abs() <= eps
        assert torch.equal(ours[inside], theirs[inside])
        diff = (ours - theirs)[~inside].abs()
        ulp = torch.nextafter(theirs, torch.full_like(theirs, 2.0)) - theirs
        assert bool((diff <= ulp[~inside]).all())
    # on dyadic inputs and budgets no rounding happens: bit-identical everywhere
    xq = (x * 16).round() / 16
    for eps in (0.125, 0.25):
        assert torch.equal(fgsm(digits_mlp, xq, y, eps=eps),
                           torchattacks.FGSM(digits_mlp, eps=eps)(xq, y))


def test_pgd_matches_torchattacks(digits_mlp, digits):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits.test
    eps, steps = 0.1, 20
    ours = _acc(digits_mlp, pgd(digits_mlp, x, y, eps=eps, n_steps=steps,
                                step_size=2.5 * eps / steps, generator=0), y)
    torch.manual_seed(0)
    theirs = _acc(digits_mlp, torchattacks.PGD(digits_mlp, eps=eps, alpha=2.5 * eps / steps,
                                               steps=steps)(x, y), y)
    clean = _acc(digits_mlp, x, y)
    assert clean > 0.9
    assert ours < clean - 0.3  # the attack bites
    assert abs(ours - theirs) <= 0.01


def test_attack_strength_ordering(digits_mlp, digits):
    x, y = digits.test
    a_f = _acc(digits_mlp, fgsm(digits_mlp, x, y, eps=0.1), y)
    a_b = _acc(digits_mlp, ifgsm(digits_mlp, x, y, eps=0.1, n_steps=10), y)
    a_n = _acc(digits_mlp, gaussian_noise(x, 0.1, clip=(0.0, 1.0), generator=0), y)
    assert a_b <= a_f + 0.01 < a_n


# --------------------------------------------------------------------------- model handling
def test_mode_restored_and_no_param_grads():
    net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), nn.Linear(8, 2))
    net.train()
    net[2].eval()  # a mixed state must come back exactly
    before = [m.training for m in net.modules()]
    x = torch.rand(6, 4)
    y = torch.zeros(6, dtype=torch.long)
    a1 = fgsm(net, x, y, eps=0.1, eot_samples=1)
    a2 = fgsm(net, x, y, eps=0.1, eot_samples=1)
    assert torch.equal(a1, a2)  # attacked in eval mode: dropout off
    assert [m.training for m in net.modules()] == before
    assert all(p.grad is None for p in net.parameters())
    with torch.no_grad():  # attacks enable gradients themselves
        assert torch.equal(fgsm(net, x, y, eps=0.1, eot_samples=1), a1)


def test_mode_restored_after_error():
    net = nn.Linear(3, 2).train()
    with pytest.raises(RuntimeError), attack_mode(net):
        raise RuntimeError("boom")
    assert net.training


class _Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.lin(x + 0.1 * torch.randn_like(x))


def test_stochastic_models_get_eot():
    net = _Noisy()
    x = torch.rand(5, 4)
    assert is_stochastic(net, x)
    assert not is_stochastic(nn.Linear(4, 3), x)
    net.calls = 0
    fgsm(net, x, torch.zeros(5, dtype=torch.long), eps=0.1)
    assert net.calls >= DEFAULT_EOT_SAMPLES  # probe calls + EOT draws
    net.calls = 0
    fgsm(net, x, torch.zeros(5, dtype=torch.long), eps=0.1, eot_samples=3)
    assert net.calls == 3

    class Flagged(nn.Module):
        stochastic = True

        def forward(self, x):
            return x

    assert is_stochastic(nn.Sequential(nn.Linear(4, 2), Flagged()))


def test_monte_carlo_dropout_is_attacked_with_eot():
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
    x = torch.rand(6, 4)
    net.eval()
    assert not is_stochastic(net, x)
    net[2].train()  # dropout kept at test time
    assert is_stochastic(net, x)
    adv = pgd(net, x, torch.zeros(6, dtype=torch.long), eps=0.1, n_steps=2, generator=0)
    assert bool(((adv - x).abs() <= 0.1).all())
    assert not net.training and net[2].training  # the mixed state is restored


def test_recurrent_model_and_estimator_wrapper():
    net = LSTMNet()
    net.train()
    x, y = _poisson_counts(8, 3)
    adv = pgd(net, x.float(), y, eps=0.5, n_steps=3, clip=(0.0, None), generator=0)
    assert bool(((adv - x).abs() <= 0.5).all())
    assert net.training and net.lstm.training and net.lstm.dropout == 0.5

    class Est:
        module_ = net

    adv_c = count_greedy_attack(Est(), x, y, k=2)
    assert int((adv_c - x).abs().flatten(1).sum(1).max()) <= 2
    with pytest.raises(SpikeDecodeTypeError, match="module_"):
        fgsm(object(), x.float(), y, eps=0.1)


# --------------------------------------------------------------------------- targeted / L-BFGS
def test_targeted_ifgsm_mse_reaches_target(digits_mlp, digits):
    x, y = digits.test[0][:40], digits.test[1][:40]
    target = (y + 1) % 10
    adv = targeted_ifgsm_mse(digits_mlp, x, target, step_size=0.01, n_steps=100)
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    with torch.no_grad():
        onehot = F.one_hot(target, 10).float()
        mse0 = ((torch.softmax(digits_mlp(x), 1) - onehot) ** 2).sum(1)
        mse1 = ((torch.softmax(digits_mlp(adv), 1) - onehot) ** 2).sum(1)
    assert float(mse1.mean()) < 0.7 * float(mse0.mean())
    # 8x8 digits leave only 64 pixels: the MSE attack reaches the target for a part only
    assert _acc(digits_mlp, x, target) < 0.05 and _acc(digits_mlp, adv, target) > 0.2
    steps = []
    bounded = targeted_ifgsm_mse(digits_mlp, x, target, step_size=0.01, n_steps=30, eps=0.1,
                                 callback=lambda k, xa: steps.append((k, xa.clone())))
    assert bool(((bounded - x).abs() <= 0.1).all())  # eps: the L-inf budget
    # the callback sees every iterate, the last one being the result
    assert [k for k, _ in steps] == list(range(1, 31))
    assert torch.equal(steps[-1][1], bounded)
    assert float((steps[0][1] - x).abs().max()) <= 0.01 + 1e-6  # one step of step_size
    with pytest.raises(AttackError, match="output"):
        targeted_ifgsm_mse(digits_mlp, x, target, output="softmax")


def test_lbfgs_targeted(digits_mlp, digits):
    x, y = digits.test[0][:20], digits.test[1][:20]
    target = (y + 3) % 10
    adv, ok = lbfgs_attack(digits_mlp, x, target, c_search=5, max_iter=30,
                           return_success=True)
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert float(ok.float().mean()) > 0.8
    with torch.no_grad():
        pred = digits_mlp(adv).argmax(1)
    assert torch.equal(pred[ok], target[ok])
    assert torch.equal(adv[~ok], x[~ok])
    # minimum-norm: L-BFGS perturbations are much smaller than the image
    assert float((adv - x)[ok].flatten(1).norm(dim=1).mean()) < 0.5 * float(x.flatten(1).norm(
        dim=1).mean())


def test_transfer_attack(digits_mlp, digits):
    x, y = digits.test
    with torch.random.fork_rng():
        torch.manual_seed(5)
        other = MLP(n_in=64, hidden_layer_sizes=(32,))
    train_image_model(other, digits, max_epochs=15, lr=3e-3, random_state=1, device="cpu")
    res = transfer_attack(other, digits_mlp, x, y, "pgd", eps=0.2, n_steps=10, generator=0)
    assert res.surrogate_accuracy < 0.2
    assert res.surrogate_accuracy <= res.target_accuracy <= res.target_clean_accuracy
    assert res.target_accuracy < res.target_clean_accuracy - 0.1  # adversarials transfer


# --------------------------------------------------------------------------- count attacks
@settings(max_examples=20, deadline=None)
@given(k=st.integers(0, 6), norm=st.sampled_from(["l1", "l0"]), seed=st.integers(0, 1000),
       n_candidates=st.sampled_from([1, 3]), max_change=st.integers(1, 3))
def test_count_greedy_budget_and_integrality(count_model, k, norm, seed, n_candidates,
                                             max_change):
    net, _, _ = count_model
    x, y = _poisson_counts(12, seed)
    mc = max(8, int(x.max())) if seed % 2 else None
    adv = count_greedy_attack(net, x, y, k=k, norm=norm, n_candidates=n_candidates,
                              max_change=max_change, max_count=mc)
    assert adv.dtype == x.dtype and adv.shape == x.shape
    assert int(adv.min()) >= 0
    d = (adv - x).abs().flatten(1)
    if norm == "l1":
        assert int(d.sum(1).max()) <= k
    else:
        assert int((d > 0).sum(1).max()) <= k and int(d.max()) <= max_change
    if mc is not None:
        assert int(adv.max()) <= mc


@settings(max_examples=15, deadline=None)
@given(eps=st.integers(0, 3), seed=st.integers(0, 1000), random_start=st.booleans())
def test_count_linf_budget_and_integrality(count_model, eps, seed, random_start):
    net, _, _ = count_model
    x, y = _poisson_counts(12, seed)
    adv = count_linf_attack(net, x.float(), y, eps=eps, n_steps=5, random_start=random_start,
                            generator=seed)
    assert adv.dtype == torch.float32
    assert torch.equal(adv, adv.round()) and float(adv.min()) >= 0
    assert float((adv - x).abs().max()) <= eps


def test_count_attacks_lower_accuracy_with_budget(count_model):
    net, x, y = count_model
    clean = _acc(net, x.float(), y)
    assert clean > 0.85
    accs = [_acc(net, count_greedy_attack(net, x, y, k=k).float(), y) for k in (0, 2, 6)]
    assert accs[0] == clean
    assert accs[0] >= accs[1] >= accs[2] and accs[2] < clean - 0.2
    lin = [_acc(net, count_linf_attack(net, x, y, eps=e).float(), y) for e in (0, 1, 2)]
    assert lin[0] == clean and lin[2] < lin[0] - 0.3
    # the exact-evaluation variant is at least as strong as the pure gradient greedy
    acc_c = _acc(net, count_greedy_attack(net, x, y, k=2, n_candidates=5).float(), y)
    assert acc_c <= accs[1] + 0.02


def test_count_attacks_reject_bad_counts(count_model):
    net, x, y = count_model
    with pytest.raises(AttackError, match="non-negative integer"):
        count_greedy_attack(net, x.float() + 0.5, y, k=1)
    with pytest.raises(AttackError, match="non-negative integer"):
        count_linf_attack(net, x.float() - 5, y, eps=1)
    with pytest.raises(AttackError, match="whole spikes"):
        count_linf_attack(net, x, y, eps=1.5)
    with pytest.raises(AttackError, match="k =="):
        count_greedy_attack(net, x, y, k=-1)


# --------------------------------------------------------------------------- errors / registry
@pytest.mark.parametrize("kwargs, match", [
    ({"eps": -0.1}, "eps"),
    ({"eps": float("nan")}, "eps"),
    ({"eps": 0.1, "clip": (1.0, 0.0)}, "clip"),
    ({"eps": 0.1, "norm": "l3"}, "norm"),
    ({"eps": 0.1, "n_steps": -1}, "n_steps"),
])
def test_bad_arguments(kwargs, match):
    net = nn.Linear(3, 2)
    with pytest.raises(AttackError, match=match):
        pgd(net, torch.rand(2, 3), torch.zeros(2, dtype=torch.long), **kwargs)


def test_domain_and_label_checks():
    net = nn.Linear(3, 2)
    with pytest.raises(AttackError, match="above clip"):
        fgsm(net, torch.full((2, 3), 2.0), torch.zeros(2, dtype=torch.long), eps=0.1)
    with pytest.raises(AttackError, match="expected \\(2,\\)"):
        fgsm(net, torch.rand(2, 3), torch.zeros(3, dtype=torch.long), eps=0.1)


def test_classes_and_registry(digits_mlp, digits):
    x, y = digits.test[0][:10], digits.test[1][:10]
    assert torch.equal(FGSM(eps=0.1)(digits_mlp, x, y), fgsm(digits_mlp, x, y, eps=0.1))
    atk = PGD(eps=0.1, n_steps=2)
    assert atk.name == "pgd" and "n_steps=2" in repr(atk)
    assert torch.equal(atk(digits_mlp, x, y, generator=0),
                       pgd(digits_mlp, x, y, eps=0.1, n_steps=2, generator=0))
    assert get_attack("fgsm") is fgsm
    with pytest.raises(AttackError, match="must be one of"):
        get_attack("deepfool")
    g1 = gaussian_noise(x, 0.2, generator=3)
    assert torch.equal(g1, gaussian_noise(x, 0.2, generator=3))
    # the registry's "gaussian" entry is noise.gaussian_noise clipped to the image domain
    g2 = get_attack("gaussian")(digits_mlp, x, y, eps=0.2, generator=3)
    assert torch.equal(g2, g1.clamp(0.0, 1.0))
    assert float(g1.max()) > 1.0 or float(g1.min()) < 0.0  # so the clip above is exercised
