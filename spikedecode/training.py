"""The one torch training loop of spikedecode.

Used by :mod:`spikedecode.decoders`, :mod:`spikedecode.align` and
:mod:`spikedecode.robust` alike, so that a regularizer or a noise transform written once
applies to an LSTM decoder and to a CIFAR ResNet. It sits below those three packages and
imports none of them: their pieces are passed in.

Three kinds of plug-ins
-----------------------
loss terms
    Callables ``term(state) -> Tensor`` added to the loss of every training batch
    (e.g. ``robust.SpectralRegularizer``). ``state.module``, ``state.x``, ``state.y``,
    ``state.output`` are available. A term may have ``attach(module)`` /
    ``detach()`` to register forward hooks, and any :class:`Callback` method.
transforms
    Callables ``transform(x, state) -> x`` applied to training inputs (noise
    injection, data augmentation). ``transform.train_only`` (default True) says whether it
    is also applied when evaluating.
callbacks
    Objects with any of ``on_train_begin``, ``on_epoch_begin``, ``on_batch_begin``,
    ``on_batch_end``, ``on_epoch_end``, ``on_train_end`` (each takes ``state``). Setting
    ``state.stop_training = True`` ends training after the epoch.

Examples
--------
>>> import torch
>>> from torch import nn
>>> x = torch.randn(64, 3); y = (x[:, 0] > 0).long()
>>> net = nn.Linear(3, 2)
>>> hist = train(net, (x, y), max_epochs=3, batch_size=16, random_state=0)
>>> len(hist.epochs)
3
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from spikedecode._random import RandomStateLike, draw_seed, torch_generator, torch_seeded
from spikedecode._threads import step_work, torch_threads
from spikedecode._validation import Interval, Options, check_param, check_params
from spikedecode.errors import ConfigError, SpikeDecodeTypeError, SpikeDecodeValueError

__all__ = [
    "Callback",
    "TrainState",
    "History",
    "EarlyStopping",
    "train",
    "evaluate",
    "predict_logits",
    "resolve_device",
    "as_tensor_data",
]

CALLBACK_METHODS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_begin",
    "on_batch_end",
    "on_epoch_end",
    "on_train_end",
)


class Callback:
    """Base class with no-op hooks; subclass and override what you need."""

    def on_train_begin(self, state: TrainState) -> None:  # noqa: D102
        pass

    def on_epoch_begin(self, state: TrainState) -> None:  # noqa: D102
        pass

    def on_batch_begin(self, state: TrainState) -> None:  # noqa: D102
        pass

    def on_batch_end(self, state: TrainState) -> None:  # noqa: D102
        pass

    def on_epoch_end(self, state: TrainState) -> None:  # noqa: D102
        pass

    def on_train_end(self, state: TrainState) -> None:  # noqa: D102
        pass


@dataclass
class History:
    """Per-epoch records of a training run.

    Attributes
    ----------
    epochs : list of dict
        One dict per epoch: ``epoch``, ``train_loss``, ``lr`` (the learning rate that epoch
        trained with), ``time_s``, ``n_samples``, ``val_loss`` and ``val_accuracy`` when
        validation data are given, and the mean of each loss term (``term/<name>``; a
        repeated name gets a suffix: ``term/<name>_1``).
    best_epoch : int or None
        Epoch whose weights were kept by early stopping.
    stopped_early : bool
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def __getitem__(self, key: str) -> list[float]:
        return [e.get(key, math.nan) for e in self.epochs]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"epochs": self.epochs, "best_epoch": self.best_epoch,
                "stopped_early": self.stopped_early}


@dataclass
class TrainState:
    """What plug-ins see during training.

    ``train_data`` is the full ``(X, y)`` training pair as CPU tensors, so that a plug-in
    can compute epoch-level statistics (e.g. a spectral regularizer refreshing its
    eigenbasis in ``on_epoch_begin``) without being handed the data separately.
    """

    module: Any
    optimizer: Any
    device: Any
    generator: Any
    history: History
    max_epochs: int
    epoch: int = 0
    batch: int = 0
    x: Any = None
    y: Any = None
    output: Any = None
    loss: Any = None
    training: bool = True
    stop_training: bool = False
    logs: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    train_data: Any = None


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int, default=5
    monitor : str, default="val_loss"
        A key of the epoch logs; ``*_loss`` is minimised, anything else maximised.
    min_delta : float, default=0.0
    restore_best : bool, default=True
        Put back the weights of the best epoch at the end of training.
    """

    def __init__(self, patience: int = 5, monitor: str = "val_loss", min_delta: float = 0.0,
                 restore_best: bool = True) -> None:
        check_param(patience, "patience", Interval(Integral, 1, None))
        self.patience = patience
        self.monitor = monitor
        self.min_delta = min_delta
        self.restore_best = restore_best

    def on_train_begin(self, state: TrainState) -> None:  # noqa: D102
        self._best = math.inf
        self._sign = 1.0 if self.monitor.endswith("loss") else -1.0
        self._wait = 0
        self._best_state = None

    def on_epoch_end(self, state: TrainState) -> None:  # noqa: D102
        if self.monitor not in state.logs:
            raise ConfigError(
                f"EarlyStopping monitors {self.monitor!r} but the epoch logs hold "
                f"{sorted(state.logs)}; pass validation data or monitor 'train_loss'."
            )
        value = self._sign * state.logs[self.monitor]
        if value < self._best - self.min_delta:
            self._best = value
            self._wait = 0
            state.history.best_epoch = state.epoch
            if self.restore_best:
                self._best_state = copy.deepcopy(state.module.state_dict())
        else:
            self._wait += 1
            if self._wait >= self.patience:
                state.stop_training = True
                state.history.stopped_early = True

    def on_train_end(self, state: TrainState) -> None:  # noqa: D102
        if self.restore_best and self._best_state is not None:
            state.module.load_state_dict(self._best_state)


class _Checkpoint(Callback):
    def __init__(self, directory: str | Path, config: dict[str, Any] | None) -> None:
        self.directory = Path(directory)
        self.config = config or {}

    def on_epoch_end(self, state: TrainState) -> None:
        from spikedecode.serialization import save_module

        self.directory.mkdir(parents=True, exist_ok=True)
        save_module(
            state.module,
            self.directory / "last",
            config={**self.config, "epoch": state.epoch, "history": state.history.to_dict()},
        )


class _Progress(Callback):
    def on_train_begin(self, state: TrainState) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=state.max_epochs, desc="training", unit="epoch", leave=False)

    def on_epoch_end(self, state: TrainState) -> None:
        shown = {k: f"{v:.4g}" for k, v in state.logs.items() if k in ("train_loss", "val_loss",
                                                                        "val_accuracy")}
        self._bar.set_postfix(shown)
        self._bar.update(1)

    def on_train_end(self, state: TrainState) -> None:
        self._bar.close()


def resolve_device(device: Any = "auto") -> Any:
    """``"auto"`` -> CUDA when available, else CPU; anything else -> ``torch.device``."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"device == {device!r} is not a torch device; use 'auto', 'cpu' "
                          "or 'cuda'.") from err


def as_tensor_data(data: Any, *, name: str = "data") -> tuple[Any, Any]:
    """Turn ``(X, y)`` arrays or tensors into a pair of tensors (float X, long/float y)."""
    import torch

    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise SpikeDecodeTypeError(f"{name} must be a pair (X, y); got {type(data).__name__}.")
    x, y = data
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x)
    if not x.is_floating_point():
        x = x.float()
    y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y)
    if len(x) != len(y):
        raise SpikeDecodeValueError(f"{name}: X has {len(x)} samples but y has {len(y)}.")
    return x, y


def _loss_fn(loss: str | Callable) -> Callable:
    import torch.nn.functional as F

    if callable(loss):
        return loss
    table = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss, "nll": F.nll_loss,
             "bce_logits": F.binary_cross_entropy_with_logits}
    check_param(loss, "loss", Options(*sorted(table)), hint="Or pass a callable.")
    return table[loss]


def _optimizer(params: Iterable, optimizer: str | Callable, lr: float, weight_decay: float,
               momentum: float, nesterov: bool) -> Any:
    import torch

    if callable(optimizer):
        return optimizer(params)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                               nesterov=nesterov and momentum > 0)
    raise ConfigError(f"optimizer == {optimizer!r}, must be 'adam', 'adamw', 'sgd' or a callable "
                      "params -> torch.optim.Optimizer.")


def _scheduler(opt: Any, schedule: Any, max_epochs: int, step_size: int | None,
               gamma: float, milestones: Sequence[int] | None) -> Any:
    import torch

    if schedule is None:
        return None
    if callable(schedule):
        return schedule(opt)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, max_epochs))
    if schedule == "step":
        if milestones:
            return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones),
                                                        gamma=gamma)
        return torch.optim.lr_scheduler.StepLR(opt, step_size=step_size or max(1, max_epochs // 3),
                                               gamma=gamma)
    raise ConfigError(f"schedule == {schedule!r}, must be None, 'step', 'cosine' or a callable.")


def _call(objs: Sequence[Any], method: str, state: TrainState) -> None:
    for obj in objs:
        fn = getattr(obj, method, None)
        if fn is not None:
            fn(state)


def _batches(n: int, batch_size: int, shuffle: bool, generator: Any, drop_last: bool):
    import torch

    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - (n % batch_size) if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield order[i : i + batch_size]


def _term_names(loss_terms: Sequence[Callable]) -> list[str]:
    """Log names of the loss terms: ``name`` or the type name, made unique (``x``, ``x_1``)."""
    names: list[str] = []
    for k, term in enumerate(loss_terms):
        base = getattr(term, "name", type(term).__name__) or f"term{k}"
        name, i = base, 0
        while name in names:
            i += 1
            name = f"{base}_{i}"
        names.append(name)
    return names


def apply_transforms(x: Any, transforms: Sequence[Callable], state: TrainState,
                     training: bool) -> Any:
    """Apply input transforms (all when training, those with ``train_only=False`` at eval)."""
    for tf in transforms:
        if training or not getattr(tf, "train_only", True):
            x = tf(x, state)
    return x


def train(
    module: Any,
    train_data: Any,
    *,
    val_data: Any = None,
    loss: str | Callable = "cross_entropy",
    optimizer: str | Callable = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    nesterov: bool = False,
    schedule: Any = None,
    step_size: int | None = None,
    gamma: float = 0.1,
    milestones: Sequence[int] | None = None,
    max_epochs: int = 10,
    batch_size: int = 128,
    loss_terms: Sequence[Callable] = (),
    transforms: Sequence[Callable] = (),
    callbacks: Sequence[Any] = (),
    patience: int | None = None,
    monitor: str = "val_loss",
    grad_clip: float | None = None,
    device: Any = "auto",
    random_state: RandomStateLike = None,
    progress: bool = False,
    checkpoint_dir: str | Path | None = None,
    checkpoint_config: dict[str, Any] | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    trainable: Callable[[Any], Iterable] | None = None,
) -> History:
    """Train ``module`` in place and return its :class:`History`.

    Parameters
    ----------
    module : torch.nn.Module
        Maps a batch of inputs to outputs (logits for classification).
    train_data : (X, y) pair of arrays/tensors
        Training data; X is float (cast when needed), y class indices (or targets for a
        regression ``loss``).
    val_data : (X, y), optional
        Validation data: adds ``val_loss`` and ``val_accuracy`` to the logs; used by
        early stopping. Never pass the test set here.
    loss : {"cross_entropy", "mse", "nll", "bce_logits"} or callable, default="cross_entropy"
        ``loss(output, y) -> scalar tensor``.
    optimizer : {"adam", "adamw", "sgd"} or callable, default="adam"
        A callable receives the parameters and returns a ``torch.optim.Optimizer``.
    lr, weight_decay, momentum, nesterov : optimizer settings.
    schedule : {None, "step", "cosine"} or callable, default=None
        Learning-rate schedule, stepped once per epoch. ``"step"`` uses ``milestones`` if
        given, else ``step_size`` (default a third of ``max_epochs``), with ``gamma``.
    step_size : int, optional
        Epochs between learning-rate drops of the ``"step"`` schedule.
    gamma : float, default=0.1
        Factor of each drop of the ``"step"`` schedule.
    milestones : sequence of int, optional
        Epochs at which the ``"step"`` schedule drops the learning rate.
    max_epochs : int, default=10
    batch_size : int, default=128
    loss_terms : sequence of callables, default=()
        Extra loss terms ``term(state) -> Tensor`` (see the module docstring).
    transforms : sequence of callables, default=()
        Input transforms ``tf(x, state) -> x`` (noise injection, augmentation).
    callbacks : sequence, default=()
        :class:`Callback`-like objects.
    patience : int, optional
        Early stopping on ``monitor`` with this patience; best weights restored.
    monitor : str, default="val_loss"
    grad_clip : float, optional
        Clip the global gradient norm.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
    random_state : int, Generator or None
        Seeds the batch order and the torch RNG used inside training (dropout, noise);
        the caller's global torch RNG is left untouched.
    progress : bool, default=False
        Show a tqdm progress bar over epochs.
    checkpoint_dir : path, optional
        Write ``last.safetensors`` + ``last.json`` there after every epoch.
    checkpoint_config : dict, optional
        Extra JSON config saved with the checkpoint.
    shuffle, drop_last : bool
        Minibatch order and whether to drop the last incomplete batch.
    trainable : callable, optional
        ``trainable(module) -> parameters`` to optimise (default all with requires_grad).

    Returns
    -------
    History
        One dict of logs per epoch (``train_loss``, ``lr``, and ``val_loss``/
        ``val_accuracy`` with ``val_data``) and the epoch early stopping kept.

    Examples
    --------
    >>> import torch
    >>> X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    >>> y = (X[:, 0] > 0).long()
    >>> net = torch.nn.Linear(3, 2)
    >>> hist = train(net, (X, y), max_epochs=3, batch_size=16, random_state=0)
    >>> len(hist.epochs), "train_loss" in hist.epochs[0]
    (3, True)
    """
    # long: the epoch and batch loops are the one place that fixes the order of the
    # callback hooks, loss terms, transforms and the optimizer/scheduler steps (the
    # contract of Callback); split into helpers, that order would span several functions.
    import torch

    if not isinstance(module, torch.nn.Module):
        raise SpikeDecodeTypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    check_params({"max_epochs": max_epochs, "batch_size": batch_size, "lr": lr,
                  "weight_decay": weight_decay}, {
        "max_epochs": Interval(Integral, 1, None),
        "batch_size": Interval(Integral, 1, None),
        "lr": Interval(Real, 0, None, closed="neither"),
        "weight_decay": Interval(Real, 0, None),
    })
    dev = resolve_device(device)
    x_tr, y_tr = as_tensor_data(train_data, name="train_data")
    val = as_tensor_data(val_data, name="val_data") if val_data is not None else None
    loss_fn = _loss_fn(loss)
    seed = draw_seed(random_state)
    gen = torch_generator(seed)
    history = History()
    module.to(dev)
    params = list(trainable(module)) if trainable else [p for p in module.parameters()
                                                        if p.requires_grad]
    opt = _optimizer(params, optimizer, lr, weight_decay, momentum, nesterov)
    sched = _scheduler(opt, schedule, max_epochs, step_size, gamma, milestones)
    cbs: list[Any] = list(callbacks)
    if patience is not None:
        cbs.append(EarlyStopping(patience=patience, monitor=monitor))
    if checkpoint_dir is not None:
        cbs.append(_Checkpoint(checkpoint_dir, checkpoint_config))
    if progress:
        cbs.append(_Progress())
    plugins: list[Any] = [*loss_terms, *transforms, *cbs]
    state = TrainState(module=module, optimizer=opt, device=dev, generator=gen, history=history,
                       max_epochs=int(max_epochs), train_data=(x_tr, y_tr))
    term_names = _term_names(loss_terms)
    for term in loss_terms:
        if hasattr(term, "attach"):
            term.attach(module)
    # the thread policy (spikedecode/_threads.py): a small network trains on one thread,
    # the caller's count is restored in the finally below
    threads = contextlib.ExitStack()
    threads.enter_context(torch_threads(work=step_work(
        sum(p.numel() for p in module.parameters()), int(batch_size), tuple(x_tr.shape[1:]))))
    try:
        with torch_seeded(seed):
            _call(plugins, "on_train_begin", state)
            for epoch in range(int(max_epochs)):
                state.epoch = epoch
                state.logs = {}
                t0 = time.perf_counter()
                module.train()
                state.training = True
                _call(plugins, "on_epoch_begin", state)
                total, n_seen = 0.0, 0
                term_sums: dict[str, float] = {}
                for b, idx in enumerate(_batches(len(x_tr), int(batch_size), shuffle, gen,
                                                 drop_last)):
                    state.batch = b
                    xb = x_tr[idx].to(dev, non_blocking=True)
                    yb = y_tr[idx].to(dev, non_blocking=True)
                    state.x, state.y = xb, yb
                    _call(plugins, "on_batch_begin", state)
                    xb = apply_transforms(state.x, transforms, state, training=True)
                    state.x = xb
                    out = module(xb)
                    state.output = out
                    batch_loss = loss_fn(out, state.y)
                    for name, term in zip(term_names, loss_terms):
                        extra = term(state)
                        term_sums[name] = term_sums.get(name, 0.0) + float(extra.detach()) * len(idx)
                        batch_loss = batch_loss + extra
                    if not torch.isfinite(batch_loss):
                        raise SpikeDecodeValueError(
                            f"the training loss became {float(batch_loss.detach())} at epoch {epoch}, "
                            f"batch {b}; lower lr (now {lr}) or the loss-term weights."
                        )
                    state.loss = batch_loss
                    opt.zero_grad(set_to_none=True)
                    batch_loss.backward()
                    if grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    opt.step()
                    total += float(batch_loss.detach()) * len(idx)
                    n_seen += len(idx)
                    _call(plugins, "on_batch_end", state)
                # log the lr this epoch trained with, before the scheduler changes it
                logs = {"epoch": float(epoch), "train_loss": total / max(n_seen, 1),
                        "lr": float(opt.param_groups[0]["lr"]), "n_samples": float(n_seen)}
                if sched is not None:
                    sched.step()
                for name, s in term_sums.items():
                    logs[f"term/{name}"] = s / max(n_seen, 1)
                if val is not None:
                    vl, va = evaluate(module, val, loss=loss_fn, batch_size=max(int(batch_size),
                                                                                 256),
                                      device=dev, transforms=transforms, state=state)
                    logs["val_loss"], logs["val_accuracy"] = vl, va
                logs["time_s"] = time.perf_counter() - t0
                state.logs = logs
                _call(plugins, "on_epoch_end", state)
                history.epochs.append(dict(state.logs))
                if state.stop_training:
                    break
            _call(plugins, "on_train_end", state)
    finally:
        for term in loss_terms:
            if hasattr(term, "detach"):
                term.detach()
        module.eval()
        threads.close()
    return history


def predict_logits(module: Any, x: Any, *, batch_size: int = 1024, device: Any = "auto",
                   transforms: Sequence[Callable] = (), state: TrainState | None = None) -> Any:
    """Outputs of ``module`` on ``x`` in eval mode without gradients, as a CPU tensor."""
    import torch

    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x)
    if not x.is_floating_point():
        x = x.float()
    was_training = module.training
    module.eval()
    outs = []
    n_params = sum(p.numel() for p in module.parameters())
    try:
        with torch.no_grad(), torch_threads(work=step_work(n_params, min(batch_size, len(x)),
                                                           tuple(x.shape[1:]))):
            for i in range(0, len(x), batch_size):
                xb = x[i : i + batch_size].to(dev)
                if transforms and state is not None:
                    xb = apply_transforms(xb, transforms, state, training=False)
                outs.append(module(xb).detach().cpu())
    finally:
        module.train(was_training)
    if not outs:
        return torch.zeros(0)
    return torch.cat(outs)


def evaluate(module: Any, data: Any, *, loss: str | Callable = "cross_entropy",
             batch_size: int = 1024, device: Any = "auto", transforms: Sequence[Callable] = (),
             state: TrainState | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``module`` on ``(X, y)`` (accuracy NaN for non-class y)."""
    import torch

    x, y = as_tensor_data(data)
    logits = predict_logits(module, x, batch_size=batch_size, device=device,
                            transforms=transforms, state=state)
    fn = _loss_fn(loss)
    with torch.no_grad():
        value = float(fn(logits, y))
        if logits.ndim == 2 and not y.is_floating_point():
            acc = float((logits.argmax(1) == y).float().mean())
        else:
            acc = math.nan
    return value, acc
