"""The one training loop (spikedecode.training): early stopping, errors, schedules, logs.

Every test trains a tiny linear model on a few dozen samples for a few epochs (< 1 s each).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from spikedecode.errors import ConfigError, SpikeDecodeTypeError, SpikeDecodeValueError
from spikedecode.training import Callback, EarlyStopping, History, evaluate, train


def _data(n: int = 64, d: int = 4, seed: int = 0, flip: bool = False):
    """Linearly separable 2-class data (labels flipped when ``flip``)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, (1 - y) if flip else y


def _net(seed: int = 0, d: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(d, 2)


def _weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


class _Snapshots(Callback):
    """Record the weights at the end of every epoch (after the optimizer steps)."""

    def __init__(self) -> None:
        self.weights: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, state) -> None:
        self.weights.append(_weights(state.module))


class _Scripted(Callback):
    """Write a prescribed value into the epoch logs, to drive EarlyStopping exactly."""

    def __init__(self, key: str, values: list[float]) -> None:
        self.key, self.values = key, values

    def on_epoch_end(self, state) -> None:
        state.logs[self.key] = self.values[state.epoch]


# ----------------------------------------------------------------------------- early stopping

def test_early_stopping_restores_the_best_epochs_weights():
    # the monitored loss improves until epoch 2, then gets worse: patience 2 stops after
    # epoch 4 and the weights must be those saved at the end of epoch 2
    snaps = _Snapshots()
    net = _net()
    hist = train(net, _data(), max_epochs=10, batch_size=16, lr=0.1, device="cpu",
                 random_state=0, patience=2, monitor="scripted_loss",
                 callbacks=[_Scripted("scripted_loss", [3.0, 2.0, 1.0, 2.0, 3.0, 4.0] + [5.0] * 4),
                            snaps])
    assert hist.best_epoch == 2
    assert hist.stopped_early and len(hist.epochs) == 5
    assert not _same(snaps.weights[2], snaps.weights[4])  # training moved on after epoch 2
    assert _same(_weights(net), snaps.weights[2])


def test_early_stopping_on_real_val_loss_restores_best():
    # validation labels are the opposite of the training labels: fitting the training set
    # makes val_loss worse every epoch, so the first epoch is the best one
    snaps = _Snapshots()
    net = _net()
    hist = train(net, _data(), val_data=_data(seed=1, flip=True), max_epochs=8, batch_size=16,
                 lr=0.1, device="cpu", random_state=0, patience=2, callbacks=[snaps])
    val = hist["val_loss"]
    assert val[1] > val[0] and val[2] > val[0]
    assert hist.best_epoch == 0 and hist.stopped_early and len(hist.epochs) == 3
    assert _same(_weights(net), snaps.weights[0])
    # evaluate() on the restored model reproduces the best epoch's logged val_loss
    vl, _ = evaluate(net, _data(seed=1, flip=True), device="cpu")
    assert vl == pytest.approx(val[0], rel=1e-5)  # same data, one batch vs one batch


def test_early_stopping_without_restore_keeps_the_last_weights():
    snaps = _Snapshots()
    net = _net()
    es = EarlyStopping(patience=2, monitor="scripted_loss", restore_best=False)
    hist = train(net, _data(), max_epochs=10, batch_size=16, lr=0.1, device="cpu",
                 random_state=0,
                 callbacks=[_Scripted("scripted_loss", [3.0, 2.0, 1.0] + [2.0] * 7), es, snaps])
    assert hist.best_epoch == 2 and len(hist.epochs) == 5
    assert _same(_weights(net), snaps.weights[-1])


def test_early_stopping_maximises_non_loss_keys_and_respects_min_delta():
    # "val_accuracy" is maximised; gains smaller than min_delta do not count as improvement
    es = EarlyStopping(patience=2, monitor="score", min_delta=0.05)
    hist = train(_net(), _data(), max_epochs=10, batch_size=16, device="cpu", random_state=0,
                 callbacks=[_Scripted("score", [0.5, 0.7, 0.72, 0.74, 0.9, 0.9] + [0.9] * 4), es])
    assert hist.best_epoch == 1 and len(hist.epochs) == 4


def test_early_stopping_errors():
    with pytest.raises(ConfigError, match="patience == 0"):
        EarlyStopping(patience=0)
    with pytest.raises(ConfigError, match="monitors 'val_loss'.*pass validation data"):
        train(_net(), _data(), max_epochs=2, patience=1, device="cpu", random_state=0)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_raises_a_clear_error(bad):
    def loss(out, y):
        return nn.functional.cross_entropy(out, y) * bad

    with pytest.raises(SpikeDecodeValueError,
                       match=rf"loss became {bad} at epoch 0, batch 0; lower lr \(now 0.001\)"):
        train(_net(), _data(), loss=loss, max_epochs=2, device="cpu", random_state=0)


def test_nan_from_a_loss_term_names_the_epoch():
    class Explodes:
        name = "explodes"

        def __call__(self, state):
            return torch.tensor(math.nan if state.epoch == 2 else 0.0)

    with pytest.raises(SpikeDecodeValueError, match="loss became nan at epoch 2, batch 0"):
        train(_net(), _data(), loss_terms=[Explodes()], max_epochs=4, batch_size=16,
              device="cpu", random_state=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(max_epochs=0), "max_epochs == 0"),
        (dict(batch_size=2.5), "batch_size == 2.5"),
        (dict(lr=0.0), "lr == 0.0"),
        (dict(loss="hinge"), "loss == 'hinge'"),
        (dict(optimizer="lbfgs"), "optimizer == 'lbfgs'"),
        (dict(schedule="linear"), "schedule == 'linear'"),
        (dict(device="tpu9"), "device == 'tpu9'"),
    ],
)
def test_bad_settings_raise_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        train(_net(), _data(), **{"device": "cpu", **kwargs})


def test_bad_data_raises():
    with pytest.raises(SpikeDecodeTypeError, match="module must be a torch.nn.Module"):
        train(lambda x: x, _data())
    with pytest.raises(SpikeDecodeTypeError, match="train_data must be a pair"):
        train(_net(), _data()[0], device="cpu")
    x, y = _data()
    with pytest.raises(SpikeDecodeValueError, match="val_data: X has 64 samples but y has 63"):
        train(_net(), (x, y), val_data=(x, y[:-1]), device="cpu")


# ----------------------------------------------------------------------------- schedules

class _LrSeen(Callback):
    """The learning rate the optimizer actually uses in each epoch."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_epoch_begin(self, state) -> None:
        self.lrs.append(state.optimizer.param_groups[0]["lr"])


def _schedule_run(**kwargs) -> tuple[list[float], list[float]]:
    seen = _LrSeen()
    hist = train(_net(), _data(), lr=0.1, batch_size=32, device="cpu", random_state=0,
                 callbacks=[seen], **kwargs)
    return seen.lrs, hist["lr"]


def test_no_schedule_keeps_lr():
    used, logged = _schedule_run(max_epochs=3)
    assert used == [0.1] * 3 and logged == [0.1] * 3


def test_cosine_schedule_anneals_over_max_epochs():
    n = 6
    used, logged = _schedule_run(max_epochs=n, schedule="cosine")
    expected = [0.1 * (1 + math.cos(math.pi * e / n)) / 2 for e in range(n)]
    # torch's recursive cosine formula differs from the closed form by rounding only
    np.testing.assert_allclose(used, expected, rtol=1e-9, atol=1e-12)
    assert logged == used  # the log records the lr each epoch trained with


def test_step_schedule_with_step_size_and_default():
    used, logged = _schedule_run(max_epochs=6, schedule="step", step_size=2, gamma=0.5)
    np.testing.assert_allclose(used, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-12)
    assert logged == used
    # default step_size is a third of max_epochs
    used, _ = _schedule_run(max_epochs=6, schedule="step", gamma=0.1)
    np.testing.assert_allclose(used, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-12)


def test_step_schedule_with_milestones():
    used, _ = _schedule_run(max_epochs=5, schedule="step", milestones=[1, 3], gamma=0.1)
    np.testing.assert_allclose(used, [0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-12)


def test_callable_schedule_receives_the_optimizer():
    def halve(opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5**e)

    used, _ = _schedule_run(max_epochs=4, schedule=halve)
    np.testing.assert_allclose(used, [0.1, 0.05, 0.025, 0.0125], rtol=1e-12)


@pytest.mark.parametrize("opt", ["adam", "adamw", "sgd", "callable"])
def test_each_optimizer_lowers_the_training_loss(opt):
    optimizer = ((lambda p: torch.optim.SGD(p, lr=0.5)) if opt == "callable" else opt)
    hist = train(_net(), _data(), optimizer=optimizer, lr=0.1, max_epochs=8, batch_size=16,
                 device="cpu", random_state=0)
    assert hist["train_loss"][-1] < 0.7 * hist["train_loss"][0]


# ----------------------------------------------------------------------------- loss terms, logs

class _Const:
    """A loss term adding a constant (it shifts the loss without changing gradients)."""

    name = "const"

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, state):
        return torch.tensor(self.value)


def test_two_loss_terms_with_one_name_are_logged_separately():
    hist = train(_net(), _data(), loss_terms=[_Const(0.25), _Const(2.0)], max_epochs=2,
                 batch_size=16, device="cpu", random_state=0)
    last = hist.epochs[-1]
    assert last["term/const"] == pytest.approx(0.25)
    assert last["term/const_1"] == pytest.approx(2.0)


def test_unnamed_loss_terms_fall_back_to_their_type_name():
    hist = train(_net(), _data(), loss_terms=[lambda s: torch.tensor(1.0)], max_epochs=1,
                 device="cpu", random_state=0)
    assert hist.epochs[0]["term/function"] == pytest.approx(1.0)


def test_loss_terms_are_attached_and_detached():
    calls: list[str] = []

    class Hooked(_Const):
        def attach(self, module):
            calls.append("attach")

        def detach(self):
            calls.append("detach")

    train(_net(), _data(), loss_terms=[Hooked(0.0)], max_epochs=1, device="cpu", random_state=0)
    assert calls == ["attach", "detach"]
    calls.clear()
    with pytest.raises(SpikeDecodeValueError):  # detached even when training fails
        train(_net(), _data(), loss_terms=[Hooked(math.nan)], max_epochs=1, device="cpu")
    assert calls == ["attach", "detach"]


class _BatchLosses(Callback):
    def __init__(self) -> None:
        self.sums: list[float] = []
        self.counts: list[int] = []

    def on_epoch_begin(self, state) -> None:
        self.sums.append(0.0)
        self.counts.append(0)

    def on_batch_end(self, state) -> None:
        self.sums[-1] += float(state.loss.detach()) * len(state.y)
        self.counts[-1] += len(state.y)


def test_history_records_each_epoch():
    rec = _BatchLosses()
    x, y = _data(n=50)
    hist = train(_net(), (x, y), val_data=_data(seed=3), max_epochs=4, batch_size=16,
                 device="cpu", random_state=0, callbacks=[rec], loss_terms=[_Const(0.5)])
    assert [e["epoch"] for e in hist.epochs] == [0, 1, 2, 3]
    assert hist["n_samples"] == [50.0] * 4 and rec.counts == [50] * 4
    # train_loss is the sample-weighted mean of the batch losses (last batch has 2 samples)
    np.testing.assert_allclose(hist["train_loss"], np.array(rec.sums) / 50, rtol=1e-6)
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert all(0.0 <= a <= 1.0 for a in hist["val_accuracy"])
    assert all(t >= 0.0 for t in hist["time_s"])
    assert hist["term/const"] == pytest.approx([0.5] * 4)
    assert all(math.isnan(v) for v in hist["not_logged"])
    assert hist.best_epoch is None and not hist.stopped_early
    again = json.loads(json.dumps(hist.to_dict()))
    assert again["epochs"][2]["train_loss"] == hist.epochs[2]["train_loss"]
    assert History().to_dict() == {"epochs": [], "best_epoch": None, "stopped_early": False}


def test_drop_last_and_no_shuffle():
    rec = _BatchLosses()
    hist = train(_net(), _data(n=50), max_epochs=1, batch_size=16, drop_last=True,
                 shuffle=False, device="cpu", random_state=0, callbacks=[rec])
    assert hist["n_samples"] == [48.0] and rec.counts == [48]


# ----------------------------------------------------------------------------- callbacks, transforms

def test_callback_order_and_stop_training():
    events: list[str] = []

    class Recorder(Callback):
        def on_train_begin(self, state):
            events.append("train_begin")

        def on_epoch_begin(self, state):
            events.append(f"epoch_begin{state.epoch}")

        def on_batch_begin(self, state):
            events.append("batch")

        def on_epoch_end(self, state):
            events.append(f"epoch_end{state.epoch}")
            state.stop_training = state.epoch == 1

        def on_train_end(self, state):
            events.append("train_end")

    hist = train(_net(), _data(n=32), max_epochs=5, batch_size=16, device="cpu",
                 random_state=0, callbacks=[Recorder()])
    assert events == ["train_begin", "epoch_begin0", "batch", "batch", "epoch_end0",
                      "epoch_begin1", "batch", "batch", "epoch_end1", "train_end"]
    assert len(hist.epochs) == 2 and not hist.stopped_early  # stopped by a callback, not ES


def test_transforms_train_only_and_at_evaluation():
    seen: dict[str, list[bool]] = {"train_only": [], "always": []}

    class Tf:
        def __init__(self, key: str, train_only: bool) -> None:
            self.key, self.train_only = key, train_only

        def __call__(self, x, state):
            seen[self.key].append(torch.is_grad_enabled())
            return x

    class Zero:
        train_only = False

        def __call__(self, x, state):
            return torch.zeros_like(x)

    train(_net(), _data(n=32), val_data=_data(n=20, seed=2),
          transforms=[Tf("train_only", True), Tf("always", False)], max_epochs=1,
          batch_size=16, device="cpu", random_state=0)
    assert seen["train_only"] == [True, True]  # two training batches, never at evaluation
    assert seen["always"] == [True, True, False]  # and once more for validation (no grad)
    # an eval-time transform changes the validation loss: inputs of zeros give the bias only
    net = _net()
    hist = train(net, _data(n=32), val_data=_data(n=20, seed=2), transforms=[Zero()],
                 max_epochs=1, device="cpu", random_state=0)
    logits = net.bias.detach().expand(20, 2)
    expected = float(nn.functional.cross_entropy(logits, _data(n=20, seed=2)[1]))
    assert hist["val_loss"][0] == pytest.approx(expected, rel=1e-6)


def test_grad_clip_bounds_each_step():
    # plain SGD: one step moves the parameters by lr * clipped gradient, so at most lr * clip
    net = _net()
    before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
    train(net, _data(), optimizer="sgd", momentum=0.0, lr=1.0, grad_clip=1e-3, max_epochs=1,
          batch_size=64, device="cpu", random_state=0)
    after = torch.cat([p.detach().flatten() for p in net.parameters()])
    # float32 weights of size ~0.4 (ulp ~3e-8) shift by ~1e-4 each: relative slack 1e-3
    assert 0 < float(torch.linalg.vector_norm(after - before)) <= 1e-3 * (1 + 1e-3)


def test_trainable_limits_what_changes():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    first = _weights(net[0])
    last = _weights(net[2])
    train(net, _data(), trainable=lambda m: m[2].parameters(), max_epochs=2, device="cpu",
          random_state=0)
    assert _same(_weights(net[0]), first) and not _same(_weights(net[2]), last)


def test_checkpoint_writes_the_last_epoch(tmp_path):
    train(_net(), _data(), max_epochs=2, device="cpu", random_state=0, checkpoint_dir=tmp_path,
          checkpoint_config={"note": "x"})
    cfg = json.loads((tmp_path / "last.json").read_text())
    assert (tmp_path / "last.safetensors").exists()
    assert "x" in json.dumps(cfg) and '"epoch": 1' in json.dumps(cfg)


# ----------------------------------------------------------------------------- reproducibility

def _fit(seed, module_seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(module_seed)
    net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 2))
    train(net, _data(), max_epochs=3, batch_size=16, device="cpu", random_state=seed)
    return _weights(net)


def test_same_random_state_gives_the_same_weights():
    a, b = _fit(5), _fit(5)
    assert _same(a, b)  # same process, same operations in the same order
    assert not _same(a, _fit(6))  # batch order and dropout masks depend on the seed
    assert _same(_fit(np.random.default_rng(3)), _fit(np.random.default_rng(3)))


def test_training_leaves_the_global_torch_rng_alone():
    net = _net()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(net, _data(), max_epochs=2, device="cpu", random_state=0)
    assert torch.equal(torch.rand(3), expected)
