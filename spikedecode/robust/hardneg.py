"""Adversarial activation analysis and selective dropout (hard-negative retraining).

After Hinthorn's study: craft adversarial twins of clean inputs, compare every hidden
unit's activation on the clean input and on its twin, find the few *volatile* units that
carry most of the change, and retrain only those units on the hard negatives
("selective dropout"), alternating each adversarial example with its original so that
clean accuracy is kept.

Everything here works on any ``torch.nn.Module`` (an MNIST MLP or CNN, or the
``module_`` of a spike decoder fed (batch, lag, unit) windows).

Design choices (see ``docs/robust_inside.md``)
----------------------------------------------
* A *unit* is an output row of a layer's weight: an output feature of ``nn.Linear``, an
  output channel of ``nn.ConvNd`` (spatial positions of a channel are pooled into one
  unit, as the Frobenius norm over them). Activations are taken at the output of the
  named module; name the activation module (``"act3"``) to look after the nonlinearity.
* Volatility is the Frobenius norm of the activation difference over all pairs (and
  spatial positions) of a unit, as in the study.
* The gradient mask is a tensor hook on the layer's ``weight``/``bias`` (grad rows of the
  frozen units set to 0) *and* a restore of the frozen rows after every optimizer step,
  so frozen units stay bit-for-bit unchanged whatever the optimizer (Adam moments, weight
  decay). No change to :func:`spikedecode.training.train` is needed: the mask is a
  callback.

Examples
--------
>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
>>> x = torch.rand(8, 4)
>>> acts = record_activations(net, x, ["1"])
>>> acts["1"].dims, acts["1"].shape
(('sample', 'unit'), (8, 6))
>>> float(unit_volatility(net, "0", x, x).sum())
0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spikedecode._random import RandomStateLike, check_generator, draw_seed, torch_seeded
from spikedecode._validation import Interval, Options, check_param, check_params
from spikedecode.errors import ConfigError, SpikeDecodeTypeError, SpikeDecodeValueError
from spikedecode.robust._hooks import LayerCapture, resolve_layer, resolve_layers
from spikedecode.robust._utils import as_float_tensor, model_device
from spikedecode.robust.evaluate import accuracy
from spikedecode.training import Callback, TrainState, predict_logits, resolve_device, train

__all__ = [
    "ActivationRecorder",
    "record_activations",
    "unit_volatility",
    "pairwise_unit_change",
    "fooling_rate",
    "perturbation_groups",
    "split_groups",
    "project_difference",
    "dropout_schedule",
    "select_units",
    "SelectiveDropoutTrainer",
    "hard_negative_report",
]

_FRACTION = Interval(Real, 0, 1, closed="right")  # a proportion of units / pairs, (0, 1]
_SELECTIONS = Options("volatile", "random", "all", "least")


# ----------------------------------------------------------------------------- helpers
class ActivationRecorder:
    """Record the outputs of named layers with forward hooks.

    Use as a context manager (hooks are removed on exit, also after an error) or call
    :meth:`record`, which attaches, runs the model in eval mode without gradients, and
    detaches.

    Parameters
    ----------
    model : torch.nn.Module
    layers : str, nn.Module or sequence of them
        Names as in ``model.named_modules()`` (e.g. ``"fc1"``, ``"features.3"``) or the
        submodules themselves. A layer's activation is its output, the first element of a
        tuple output: the output sequence of an ``nn.LSTM`` (see
        :mod:`spikedecode.robust._hooks`).
    flatten : bool, default=True
        Flatten everything after the batch axis into one ``unit`` axis (a conv layer's
        ``channel × row × col``). With ``False`` the dims are
        ``("sample", "channel", "row", "col")`` for 4-D outputs, ``("sample", "lag",
        "unit")`` for 3-D and ``("sample", "unit")`` for 2-D.

    Attributes
    ----------
    layers : dict of str -> nn.Module
    activations : dict of str -> list of Tensor
        Batches collected while attached (detached CPU tensors), cleared by :meth:`clear`.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    >>> rec = ActivationRecorder(net, ["0", "1"])
    >>> out = rec.record(torch.zeros(4, 3))
    >>> sorted(out), out["0"].shape, len(net[0]._forward_hooks)
    (['0', '1'], (4, 5), 0)
    """

    def __init__(self, model: Any, layers: Any, *, flatten: bool = True) -> None:
        import torch

        if not isinstance(model, torch.nn.Module):
            raise SpikeDecodeTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
        self.model = model
        self.layers = resolve_layers(model, layers)
        self.flatten = flatten
        self._capture = LayerCapture(self.layers)

    @property
    def activations(self) -> dict[str, list[Any]]:
        """Batches collected while attached, per layer."""
        return self._capture.outputs

    @property
    def keep_graph(self) -> bool:
        """Keep recorded tensors on their device with their graph (default: detached CPU)."""
        return self._capture.keep_graph

    @keep_graph.setter
    def keep_graph(self, value: bool) -> None:
        self._capture.keep_graph = bool(value)

    # hooks -----------------------------------------------------------------------------
    def attach(self) -> ActivationRecorder:
        """Register the forward hooks (idempotent)."""
        self._capture.attach()
        return self

    def remove(self) -> None:
        """Remove every hook this recorder registered."""
        self._capture.remove()

    def clear(self) -> None:
        """Forget the collected batches."""
        self._capture.clear()

    def __enter__(self) -> ActivationRecorder:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    # results ---------------------------------------------------------------------------
    def to_dataarrays(self) -> dict[str, Any]:
        """The collected batches as one DataArray per layer."""
        import torch
        import xarray as xr

        out = {}
        for name, batches in self.activations.items():
            if not batches:
                raise SpikeDecodeValueError(
                    f"layer {name!r} recorded nothing; was the model run while attached, and "
                    "is the layer on the forward path?"
                )
            a = torch.cat([b.detach().cpu() for b in batches]).numpy()
            if self.flatten or a.ndim == 2:
                a = a.reshape(len(a), -1)
                dims: tuple[str, ...] = ("sample", "unit")
            elif a.ndim == 3:
                dims = ("sample", "lag", "unit")
            elif a.ndim == 4:
                dims = ("sample", "channel", "row", "col")
            else:
                dims = ("sample",) + tuple(f"dim_{i}" for i in range(1, a.ndim))
            out[name] = xr.DataArray(a, dims=dims, name=name,
                                     attrs={"layer": name,
                                            "module": type(self.layers[name]).__name__})
        return out

    def record(self, x: ArrayLike, *, batch_size: int = 512, device: Any = "auto") -> dict[str, Any]:
        """Run ``model`` on ``x`` (eval mode, no gradients) and return ``{layer: DataArray}``.

        Parameters
        ----------
        x : array-like or Tensor, shape (n_samples, ...)
        batch_size : int, default=512
        device : {"auto", "cpu", "cuda"}, default="auto"

        Returns
        -------
        dict of str -> xarray.DataArray
            Dims ``("sample", "unit")`` (flattened) per layer.
        """
        self.clear()
        dev = model_device(self.model) if device == "auto" else resolve_device(device)
        with self:
            predict_logits(self.model, as_float_tensor(x), batch_size=batch_size, device=dev)
        out = self.to_dataarrays()
        self.clear()
        return out


def record_activations(model: Any, x: ArrayLike, layers: Any, *, flatten: bool = True,
                       batch_size: int = 512) -> dict[str, Any]:
    """Activations of ``layers`` on ``x`` as ``{name: DataArray(sample, unit)}``.

    Functional twin of :class:`ActivationRecorder` (hooks are removed afterwards).

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    x : array-like or torch.Tensor
        Inputs.
    layers : str, nn.Module or sequence of them
        The layers to record, as for :class:`ActivationRecorder`.
    flatten : bool, default=True
        One ``unit`` axis per layer (see :class:`ActivationRecorder`).
    batch_size : int, default=512
        Inputs per forward pass.

    Returns
    -------
    dict of str to xarray.DataArray
        Each layer's activations.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 3))
    >>> record_activations(net, torch.ones(5, 2), "0")["0"].shape
    (5, 3)
    """
    return ActivationRecorder(model, layers, flatten=flatten).record(x, batch_size=batch_size)


# ----------------------------------------------------------------------------- volatility
def _check_pairs(x: Any, x_adv: Any) -> tuple[Any, Any]:
    xt, xa = as_float_tensor(x), as_float_tensor(x_adv)
    if xt.shape != xa.shape:
        raise SpikeDecodeValueError(
            f"x has shape {tuple(xt.shape)} but x_adv has shape {tuple(xa.shape)}; pass one "
            "adversarial twin per clean input, in the same order."
        )
    if len(xt) == 0:
        raise SpikeDecodeValueError("x is empty; pass at least one (clean, adversarial) pair.")
    return xt, xa


def _per_unit(a: Any) -> Any:
    """(n, units, *spatial) view: channel axis kept, the rest pooled later."""
    return a.reshape(a.shape[0], a.shape[1], -1) if a.ndim >= 3 else a.reshape(a.shape[0], -1, 1)


def _layer_units(model: Any, layer: str, x: Any, x_adv: Any, batch_size: int) -> tuple[Any, Any]:
    rec = ActivationRecorder(model, layer, flatten=False)
    a = rec.record(x, batch_size=batch_size)[layer].values
    b = rec.record(x_adv, batch_size=batch_size)[layer].values
    module = rec.layers[layer]
    # a Conv's output is (n, channel, ...) -> unit = channel; a Linear on (n, lag, feat)
    # (decoders) -> unit = last axis; everything else: the flattened features
    import torch

    if isinstance(module, torch.nn.modules.conv._ConvNd) or a.ndim == 4:
        return _per_unit(a), _per_unit(b)
    if a.ndim == 3:  # (n, lag, unit): put unit second
        return (np.moveaxis(a, -1, 1), np.moveaxis(b, -1, 1))
    return _per_unit(a), _per_unit(b)


def pairwise_unit_change(model: Any, layer: str, x: ArrayLike, x_adv: ArrayLike, *,
                         batch_size: int = 512) -> Any:
    """Per pair and unit, the norm of the activation change ``||a(x_adv) - a(x)||``.

    For a conv layer the norm runs over the channel's spatial positions.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    layer : str
        Name of the layer (as in ``model.named_modules()``).
    x, x_adv : array-like or torch.Tensor
        Clean inputs and their adversarial counterparts, pair by pair.
    batch_size : int, default=512
        Inputs per forward pass.

    Returns
    -------
    xarray.DataArray
        Dims ``("pair", "unit")``.
    """
    import xarray as xr

    xt, xa = _check_pairs(x, x_adv)
    a, b = _layer_units(model, layer, xt, xa, batch_size)
    d = np.sqrt(((b - a) ** 2).sum(axis=2))
    return xr.DataArray(d, dims=("pair", "unit"), name="unit_change", attrs={"layer": layer})


def unit_volatility(model: Any, layer: str, x: ArrayLike, x_adv: ArrayLike, *,
                    batch_size: int = 512) -> Any:
    """Volatility of every unit of ``layer``: Frobenius norm of its activation change.

    ``v_u = sqrt(sum_i sum_s (a_u(x_adv_i)[s] - a_u(x_i)[s])**2)`` over pairs ``i`` and
    spatial positions ``s`` (conv channels), as in Hinthorn's study.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str
        Module name in ``model.named_modules()``.
    x, x_adv : array-like, same shape
        Clean inputs and their adversarial twins.
    batch_size : int, default=512

    Returns
    -------
    xarray.DataArray
        Dims ``("unit",)``, non-negative; zero when ``x_adv == x``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> lin = nn.Linear(2, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 3.0]]))
    >>> net = nn.Sequential(lin)
    >>> unit_volatility(net, "0", torch.zeros(1, 2), torch.ones(1, 2)).values.tolist()
    [1.0, 3.0]
    """
    import xarray as xr

    d = pairwise_unit_change(model, layer, x, x_adv, batch_size=batch_size).values
    v = np.sqrt((d.astype(np.float64) ** 2).sum(axis=0))
    return xr.DataArray(v, dims=("unit",), coords={"unit": np.arange(len(v))}, name="volatility",
                        attrs={"layer": layer, "n_pairs": int(d.shape[0])})


def fooling_rate(model: Any, layer: str, x: ArrayLike, x_adv: ArrayLike, *, top: float = 0.1,
                 batch_size: int = 512) -> Any:
    """Fraction of pairs on which each unit is among the ``top`` most changed units.

    A unit is "fooled" by a pair when its activation change on that pair ranks in the top
    ``ceil(top * n_units)`` of the layer. A unit with rate near 1 is blamed by almost every
    attack; near ``top`` means no more than chance.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    layer : str
        Name of the layer (as in ``model.named_modules()``).
    x, x_adv : array-like or torch.Tensor
        Clean inputs and their adversarial counterparts, pair by pair.
    top : float, default=0.1
        Fraction of the layer's units counted as "most changed", in (0, 1].
    batch_size : int, default=512
        Inputs per forward pass.

    Returns
    -------
    xarray.DataArray
        Dims ``("unit",)``, values in [0, 1]; their mean over units is
        ``ceil(top * n_units) / n_units``.
    """
    import xarray as xr

    top = check_param(top, "top", _FRACTION)
    d = pairwise_unit_change(model, layer, x, x_adv, batch_size=batch_size).values
    n_units = d.shape[1]
    k = max(1, math.ceil(top * n_units))
    idx = np.argsort(-d, axis=1, kind="stable")[:, :k]
    hits = np.zeros_like(d, dtype=bool)
    np.put_along_axis(hits, idx, True, axis=1)
    return xr.DataArray(hits.mean(axis=0), dims=("unit",), coords={"unit": np.arange(n_units)},
                        name="fooling_rate", attrs={"layer": layer, "top": top, "k": k})


def perturbation_groups(y_true: ArrayLike, y_adv: ArrayLike, *, by: str = "both") -> NDArray:
    """Label each (clean, adversarial) pair by the class change it caused.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        Class of the clean input.
    y_adv : array-like of shape (n_pairs,)
        Class predicted on (or targeted by) the adversarial twin.
    by : {"both", "source", "target"}, default="both"
        ``"both"`` -> ``"3->8"``; ``"source"`` -> ``"3->*"``; ``"target"`` -> ``"*->8"``.

    Returns
    -------
    numpy.ndarray of str, shape (n_pairs,)

    Examples
    --------
    >>> perturbation_groups([3, 3, 1], [8, 5, 7]).tolist()
    ['3->8', '3->5', '1->7']
    >>> perturbation_groups([3, 3, 1], [8, 5, 7], by="source").tolist()
    ['3->*', '3->*', '1->*']
    """
    check_param(by, "by", Options("both", "source", "target"))
    a, b = np.asarray(y_true).ravel(), np.asarray(y_adv).ravel()
    if a.shape != b.shape:
        raise SpikeDecodeValueError(f"y_true has {a.size} labels but y_adv has {b.size}.")
    if by == "both":
        return np.array([f"{s}->{t}" for s, t in zip(a, b)], dtype=object).astype(str)
    if by == "source":
        return np.array([f"{s}->*" for s in a]).astype(str)
    return np.array([f"*->{t}" for t in b]).astype(str)  # by == "target"


def split_groups(groups: ArrayLike, *, test_size: float = 0.25,
                 random_state: RandomStateLike = None) -> tuple[NDArray, NDArray]:
    """Split pair indices so that whole perturbation groups are held out.

    The study's evaluation: retrain on some groups, test on pairs of groups never seen.

    Parameters
    ----------
    groups : array-like
        Perturbation group of each pair.
    test_size : float, default=0.25
        Fraction of the groups held out, in (0, 1) (at least one group, never all).
    random_state : int, numpy.random.Generator or None
        Seeds the choice of the held-out groups.

    Returns
    -------
    train_idx, test_idx : numpy.ndarray of int

    Examples
    --------
    >>> tr, te = split_groups(["a", "a", "b", "c"], test_size=0.34, random_state=0)
    >>> sorted(set(tr) | set(te)) == [0, 1, 2, 3]
    True
    """
    g = np.asarray(groups).astype(str)
    uniq = np.unique(g)
    if len(uniq) < 2:
        raise SpikeDecodeValueError(
            f"groups holds {len(uniq)} distinct group(s); holding out whole groups needs >= 2."
        )
    test_size = check_param(test_size, "test_size", Interval(Real, 0, 1, closed="neither"))
    rng = check_generator(random_state)
    n_test = min(len(uniq) - 1, max(1, round(test_size * len(uniq))))
    test_groups = set(rng.permutation(uniq)[:n_test].tolist())
    is_test = np.array([v in test_groups for v in g])
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


# ----------------------------------------------------------------------------- projection
def project_difference(model: Any, layer: str, x: ArrayLike, x_adv: ArrayLike, *,
                       groups: ArrayLike | None = None, batch_size: int = 256) -> Any:
    """Project a layer's activation difference back to input space, averaged per group.

    For a pair ``(x, x_adv)`` with ``Δa = a(x_adv) - a(x)`` at ``layer``, the map is
    ``J(x̄)ᵀ Δa`` with ``J`` the Jacobian of the layer's activations with respect to the
    input at the midpoint ``x̄ = (x + x_adv) / 2``: the input direction that moves the
    layer along its adversarial change (a gradient-based attribution; ``Δa ≈ J Δx``
    to first order). Maps are averaged over the pairs of each perturbation group.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str
    x, x_adv : array-like, same shape (n_pairs, ...)
    groups : array-like of str, optional
        One label per pair (e.g. from :func:`perturbation_groups`); default one group
        ``"all"``.
    batch_size : int, default=256

    Returns
    -------
    xarray.DataArray
        Dims ``("group", *input dims)``: ``("group", "channel", "row", "col")`` for images,
        ``("group", "lag", "unit")`` for windows, ``("group", "feature")`` otherwise.
    """
    import torch
    import xarray as xr

    xt, xa = _check_pairs(x, x_adv)
    g = np.full(len(xt), "all") if groups is None else np.asarray(groups).astype(str)
    if len(g) != len(xt):
        raise SpikeDecodeValueError(f"groups has {len(g)} labels but there are {len(xt)} pairs.")
    rec = ActivationRecorder(model, layer, flatten=True)
    dev = model_device(model)
    was_training = model.training
    model.eval()
    maps = torch.zeros_like(xt)
    try:
        for i in range(0, len(xt), batch_size):
            a, b = xt[i : i + batch_size].to(dev), xa[i : i + batch_size].to(dev)
            with torch.no_grad(), rec:
                model(a)
                model(b)
            acts = rec.activations[layer]
            delta = (acts[1] - acts[0]).reshape(len(a), -1).to(dev)
            rec.clear()
            mid = ((a + b) / 2).clone().requires_grad_(True)
            rec.keep_graph = True
            with rec:
                model(mid)
            act_mid = rec.activations[layer][0].reshape(len(a), -1)
            rec.keep_graph = False
            rec.clear()
            (grad,) = torch.autograd.grad((act_mid * delta).sum(), mid)
            maps[i : i + batch_size] = grad.detach().cpu()
    finally:
        rec.remove()
        model.train(was_training)
    uniq = np.unique(g)
    m = maps.numpy()
    avg = np.stack([m[g == u].mean(axis=0) for u in uniq])
    in_dims = {3: ("channel", "row", "col"), 2: ("lag", "unit"), 1: ("feature",)}.get(
        m.ndim - 1, tuple(f"dim_{k}" for k in range(1, m.ndim)))
    counts = [int((g == u).sum()) for u in uniq]
    return xr.DataArray(avg, dims=("group", *in_dims),
                        coords={"group": uniq, "n_pairs": ("group", counts)},
                        name="projected_difference", attrs={"layer": layer})


# ----------------------------------------------------------------------------- selective dropout
def dropout_schedule(t: ArrayLike, p0: float, decay: float) -> NDArray:
    """Fraction of units updated at epoch ``t``: ``p_t = 1 - (1 - p0) * exp(-decay * t)``.

    Starts at ``p0`` and grows to 1 (all units trainable) at rate ``decay``.

    Parameters
    ----------
    t : array-like
        Epoch(s), from 0.
    p0 : float
        Fraction at epoch 0, in (0, 1].
    decay : float
        Growth rate, >= 0 (0 keeps ``p0``).

    Returns
    -------
    numpy.ndarray
        ``p_t``, of the shape of ``t``.

    Examples
    --------
    >>> round(float(dropout_schedule(0, 0.1, 0.5)), 6)
    0.1
    >>> round(float(dropout_schedule(2, 0.1, 0.5)), 6)
    0.668909
    """
    p0 = check_param(p0, "p0", _FRACTION)
    decay = check_param(decay, "decay", Interval(Real, 0, None))
    t = np.asarray(t, dtype=np.float64)
    return 1.0 - (1.0 - p0) * np.exp(-decay * t)


def select_units(volatility: ArrayLike, p: float, *, selection: str = "volatile",
                 random_state: RandomStateLike = None) -> NDArray:
    """Boolean mask of the ``ceil(p * n_units)`` units to update.

    Parameters
    ----------
    volatility : array-like of shape (n_units,)
    p : float in (0, 1]
    selection : {"volatile", "random", "all", "least"}, default="volatile"
        The most volatile units (the method), random units (a control), all units (the
        other control) or the least volatile (an ablation).
    random_state : int, numpy.random.Generator or None
        Seeds the ``"random"`` selection.

    Returns
    -------
    numpy.ndarray of bool, shape (n_units,)
        True for the units to update.

    Examples
    --------
    >>> select_units([0.1, 5.0, 0.3, 2.0], 0.5).tolist()
    [False, True, False, True]
    """
    v = np.asarray(volatility, dtype=np.float64).ravel()
    p = check_param(p, "p", _FRACTION)
    check_param(selection, "selection", _SELECTIONS)
    n = len(v)
    k = max(1, math.ceil(p * n - 1e-9))
    mask = np.zeros(n, dtype=bool)
    if selection == "volatile":
        mask[np.argsort(-v, kind="stable")[:k]] = True
    elif selection == "least":
        mask[np.argsort(v, kind="stable")[:k]] = True
    elif selection == "random":
        mask[check_generator(random_state).permutation(n)[:k]] = True
    else:  # "all"
        mask[:] = True
    return mask


class GradientMask:
    """Freeze all but the selected output units of one layer.

    Registers tensor hooks on the layer's ``weight`` and ``bias`` that zero the gradient
    rows of the frozen units, and restores those rows after every optimizer step (so
    optimizer state such as Adam moments or weight decay cannot move them either).
    Usable alone, as a :class:`spikedecode.training.Callback`.

    Parameters
    ----------
    layer : nn.Module
        A module with a ``weight`` whose first axis indexes output units (Linear, ConvNd).
    mask : array-like of bool, shape (n_units,)

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> lin = nn.Linear(3, 4)
    >>> gm = GradientMask(lin, [True, False, False, True]).attach()
    >>> lin(torch.ones(2, 3)).sum().backward()
    >>> lin.weight.grad[1].abs().sum().item(), lin.weight.grad[0].abs().sum().item() > 0
    (0.0, True)
    >>> gm.remove()
    """

    def __init__(self, layer: Any, mask: ArrayLike) -> None:
        weight = getattr(layer, "weight", None)
        if weight is None:
            raise ConfigError(
                f"layer {type(layer).__name__} has no 'weight'; selective dropout masks the "
                "output units of a Linear or Conv layer: name that layer."
            )
        self.layer = layer
        self._handles: list[Any] = []
        self.set_mask(mask)

    @property
    def n_units(self) -> int:
        """Number of output units of the layer."""
        return int(self.layer.weight.shape[0])

    def set_mask(self, mask: ArrayLike) -> None:
        """Change which units are trainable; snapshot the current weights of the others."""
        import torch

        m = np.asarray(mask, dtype=bool).ravel()
        if m.size != self.n_units:
            raise SpikeDecodeValueError(
                f"mask has {m.size} entries but the layer has {self.n_units} output units."
            )
        dev = self.layer.weight.device
        self.mask = torch.as_tensor(m, device=dev)
        self._frozen = {name: p.detach().clone() for name, p in self._params()}

    def _params(self) -> list[tuple[str, Any]]:
        out = [("weight", self.layer.weight)]
        if getattr(self.layer, "bias", None) is not None:
            out.append(("bias", self.layer.bias))
        return out

    def _view(self, p: Any) -> Any:
        return self.mask.to(p.dtype).reshape((-1,) + (1,) * (p.ndim - 1))

    def attach(self) -> GradientMask:
        """Register the gradient hooks (idempotent)."""
        if not self._handles:
            for _, p in self._params():
                self._handles.append(p.register_hook(lambda g, p=p: g * self._view(p)))
        return self

    def remove(self) -> None:
        """Remove the gradient hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def restore(self) -> None:
        """Put the frozen rows back to their snapshot."""
        import torch

        with torch.no_grad():
            frozen = ~self.mask
            for name, p in self._params():
                p[frozen] = self._frozen[name][frozen]

    # Callback protocol
    def on_train_begin(self, state: TrainState) -> None:  # noqa: D102
        self.attach()

    def on_batch_end(self, state: TrainState) -> None:  # noqa: D102
        self.restore()

    def on_train_end(self, state: TrainState) -> None:  # noqa: D102
        self.remove()


class _PairNet:
    """Factory of an nn.Module that runs (batch, 2, ...) pairs as (2·batch, ...)."""

    @staticmethod
    def build(model: Any) -> Any:
        from torch import nn

        class PairNet(nn.Module):
            def __init__(self, inner: nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x):  # (b, 2, ...) -> (2b, n_out), adversarial then clean
                return self.inner(x.reshape(x.shape[0] * 2, *x.shape[2:]))

        return PairNet(model)


def _pair_loss(loss: str | Callable) -> Callable:
    import torch.nn.functional as F

    table = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss, "nll": F.nll_loss}
    fn = loss if callable(loss) else table.get(loss)
    if fn is None:
        raise ConfigError(f"loss == {loss!r}, must be 'cross_entropy', 'nll', 'mse' or callable.")

    def paired(out, y):
        return fn(out, y.repeat_interleave(2, dim=0))

    return paired


class _SelectiveCallback(Callback):
    def __init__(self, owner: SelectiveDropoutTrainer, model: Any, layer_name: str,
                 mask: GradientMask, x_pairs: Any, y: Any, rng: np.random.Generator, *,
                 val_data: Any = None, val_adv_data: Any = None) -> None:
        self.owner, self.model, self.layer_name, self.gm = owner, model, layer_name, mask
        self.x_pairs, self.y, self.rng = x_pairs, y, rng
        self.val_data, self.val_adv_data = val_data, val_adv_data
        self.step = 0

    def _update_mask(self, state: TrainState, xb: Any, t: int) -> None:
        o = self.owner
        p = o._p_at(t)
        vol = None
        if o.selection in ("volatile", "least"):
            vol = unit_volatility(self.model, self.layer_name, xb[:, 1], xb[:, 0],
                                  batch_size=o.batch_size * 2).values
        m = select_units(vol if vol is not None else np.zeros(self.gm.n_units), p,
                         selection=o.selection, random_state=self.rng)
        self.gm.set_mask(m)
        o.masks_.append(m)
        o.p_.append(float(p))
        if vol is not None:
            o.volatility_history_.append(vol)

    def on_train_begin(self, state: TrainState) -> None:
        self.gm.attach()

    def on_epoch_begin(self, state: TrainState) -> None:
        if self.owner.recompute == "epoch":
            n = min(len(self.x_pairs), self.owner.n_volatility_pairs)
            idx = self.rng.permutation(len(self.x_pairs))[:n]
            self._update_mask(state, self.x_pairs[idx], state.epoch)
            state.module.train()

    def on_batch_begin(self, state: TrainState) -> None:
        if self.owner.recompute == "step":
            self._update_mask(state, state.x, self.step)
            state.module.train()

    def on_batch_end(self, state: TrainState) -> None:
        self.gm.restore()
        self.step += 1

    def on_epoch_end(self, state: TrainState) -> None:
        o = self.owner
        logs = state.logs
        logs["steps"] = float(self.step)
        logs["adv_train_accuracy"] = accuracy(self.model, self.x_pairs[:, 0], self.y)
        logs["clean_train_accuracy"] = accuracy(self.model, self.x_pairs[:, 1], self.y)
        if self.val_data is not None:
            logs["val_clean_accuracy"] = accuracy(self.model, *self.val_data)
        if self.val_adv_data is not None:
            logs["val_adv_accuracy"] = accuracy(self.model, *self.val_adv_data)
        if o.steps_to_converge_ is None and logs["adv_train_accuracy"] >= o.converge_accuracy:
            o.steps_to_converge_ = self.step
            o.epochs_to_converge_ = state.epoch + 1
            if o.stop_at_convergence:
                state.stop_training = True

    def on_train_end(self, state: TrainState) -> None:
        self.gm.remove()


class SelectiveDropoutTrainer:
    """Hard-negative retraining of only the most volatile units of one layer.

    Each training sample is a pair (adversarial twin, clean original) with the clean
    label; both members go through the network in the same batch, so every step
    alternates hard negatives with their originals and clean accuracy is kept. Only the
    chosen ``layer`` is optimised, and within it only the output units selected by
    ``selection`` (the top-``p`` fraction by volatility, recomputed every epoch or every
    step on the current weights); all other parameters stay frozen. Training runs
    through :func:`spikedecode.training.train`.

    Parameters
    ----------
    layer : str
        Name (in ``model.named_modules()``) of a Linear or Conv layer.
    p : float, default=0.1
        Fraction of the layer's units updated (``p0`` when a schedule is given).
    schedule : None, float or callable, default=None
        ``None``: constant ``p``. A float ``decay``: ``p_t = 1 - (1 - p)·exp(-decay·t)``
        (:func:`dropout_schedule`). A callable ``t -> p_t``.
    selection : {"volatile", "random", "all", "least"}, default="volatile"
        ``"random"`` and ``"all"`` are the controls (same training, other units).
    recompute : {"epoch", "step"}, default="epoch"
        When the volatility mask is recomputed (``t`` counts epochs or steps).
    max_epochs : int, default=10
    batch_size : int, default=64
        Pairs per batch (the network sees twice as many inputs).
    lr : float, default=1e-3
    optimizer : str, default="adam"
    loss : str or callable, default="cross_entropy"
        Use ``"mse"`` with one-hot ``y`` for networks trained on MSE.
    converge_accuracy : float, default=0.9
        Training accuracy on the adversarial twins that counts as converged
        (``steps_to_converge_``).
    stop_at_convergence : bool, default=False
    n_volatility_pairs : int, default=512
        Pairs used to compute the per-epoch volatility.
    random_state : int, Generator or None

    Attributes
    ----------
    history_ : spikedecode.training.History
        Per epoch also ``adv_train_accuracy``, ``clean_train_accuracy``, ``steps`` and,
        when given, ``val_clean_accuracy`` / ``val_adv_accuracy``.
    masks_ : list of ndarray of bool
        The mask used at each recomputation.
    p_ : list of float
    volatility_history_ : list of ndarray
    steps_to_converge_ : int or None
        Optimizer steps until ``adv_train_accuracy >= converge_accuracy`` (checked at
        epoch ends); ``None`` if never reached.
    epochs_to_converge_ : int or None

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> x = torch.rand(32, 4); y = (x[:, 0] > 0.5).long()
    >>> x_adv = (x + 0.1 * torch.randn(32, 4)).clamp(0, 1)
    >>> w0 = net[2].weight.detach().clone()
    >>> sd = SelectiveDropoutTrainer("0", p=0.25, max_epochs=2, random_state=0)
    >>> sd = sd.fit(net, x, x_adv, y)
    >>> int(sd.masks_[0].sum()), bool(torch.equal(net[2].weight, w0))
    (2, True)
    """

    def __init__(self, layer: str, p: float = 0.1, schedule: Any = None, *,
                 selection: str = "volatile", recompute: str = "epoch", max_epochs: int = 10,
                 batch_size: int = 64, lr: float = 1e-3, optimizer: str = "adam",
                 loss: str | Callable = "cross_entropy", converge_accuracy: float = 0.9,
                 stop_at_convergence: bool = False, n_volatility_pairs: int = 512,
                 random_state: RandomStateLike = None) -> None:
        self.layer = layer
        self.p = p
        self.schedule = schedule
        self.selection = selection
        self.recompute = recompute
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.loss = loss
        self.converge_accuracy = converge_accuracy
        self.stop_at_convergence = stop_at_convergence
        self.n_volatility_pairs = n_volatility_pairs
        self.random_state = random_state

    def _p_at(self, t: int) -> float:
        if self.schedule is None:
            return float(self.p)
        if callable(self.schedule):
            p = float(self.schedule(t))
            if not 0 < p <= 1:
                raise ConfigError(f"schedule({t}) == {p!r}, must be in (0, 1].")
            return p
        return float(dropout_schedule(t, self.p, float(self.schedule)))

    def _check_params(self) -> None:
        check_params(self, {"p": _FRACTION, "recompute": Options("epoch", "step"),
                            "selection": _SELECTIONS})
        if not (self.schedule is None or callable(self.schedule)
                or isinstance(self.schedule, (int, float))):
            raise ConfigError(f"schedule == {self.schedule!r}, must be None, a float decay rate "
                              "or a callable t -> p_t.")

    def fit(self, model: Any, x: ArrayLike, x_adv: ArrayLike, y: ArrayLike, *,
            val_data: tuple[Any, Any] | None = None,
            val_adv_data: tuple[Any, Any] | None = None) -> SelectiveDropoutTrainer:
        """Retrain ``model`` in place on (adversarial, clean) pairs; return ``self``.

        Parameters
        ----------
        model : torch.nn.Module
        x, x_adv : array-like, same shape (n_pairs, ...)
        y : array-like of shape (n_pairs,) (or one-hot for ``loss="mse"``)
            The *clean* labels, used for both members of a pair.
        val_data, val_adv_data : (X, y), optional
            Monitored each epoch (clean and held-out adversarial accuracy); never used
            to select anything.
        """
        import torch

        self._check_params()
        xt, xa = _check_pairs(x, x_adv)
        yt = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y)
        if len(yt) != len(xt):
            raise SpikeDecodeValueError(f"y has {len(yt)} labels but there are {len(xt)} pairs.")
        layer_mod = resolve_layer(model, self.layer)
        if getattr(layer_mod, "weight", None) is None:
            raise ConfigError(
                f"layer == {self.layer!r} ({type(layer_mod).__name__}) has no 'weight'; "
                "selective dropout masks the output units of a Linear or Conv layer: name "
                "that layer.")
        gm = GradientMask(layer_mod, np.ones(int(layer_mod.weight.shape[0]), dtype=bool))
        rng = check_generator(self.random_state)
        seed = draw_seed(rng)
        pairs = torch.stack([xa, xt], dim=1)  # (n, 2, ...): adversarial first, then clean
        self.masks_: list[NDArray] = []
        self.p_: list[float] = []
        self.volatility_history_: list[NDArray] = []
        self.steps_to_converge_: int | None = None
        self.epochs_to_converge_: int | None = None

        cb = _SelectiveCallback(self, model, self.layer, gm, pairs, yt, rng,
                                val_data=val_data, val_adv_data=val_adv_data)
        pair_net = _PairNet.build(model)
        layer_params = [p for _, p in gm._params()]
        keep = {id(p) for p in layer_params}
        # freeze everything outside the layer (no stale .grad on the caller's model)
        saved = [(p, p.requires_grad) for p in model.parameters()]
        for prm, _ in saved:
            prm.requires_grad_(id(prm) in keep)
        try:
            with torch_seeded(seed):
                self.history_ = train(
                    pair_net, (pairs, yt), loss=_pair_loss(self.loss), optimizer=self.optimizer,
                    lr=self.lr, max_epochs=int(self.max_epochs), batch_size=int(self.batch_size),
                    callbacks=[cb], random_state=seed, device=model_device(model),
                    trainable=lambda _m: layer_params,
                )
        finally:
            gm.remove()
            for prm, flag in saved:
                prm.requires_grad_(flag)
        self.mask_ = self.masks_[-1] if self.masks_ else None
        self.n_steps_ = cb.step
        return self


def hard_negative_report(model: Any, *, x_test: ArrayLike, y_test: ArrayLike,
                         x_adv_heldout: ArrayLike | None = None,
                         y_adv_heldout: ArrayLike | None = None,
                         attack: Callable[[Any, Any, Any], Any] | None = None,
                         n_fresh: int = 500) -> dict[str, float]:
    """Accuracies that judge a hard-negative-retrained model.

    Parameters
    ----------
    model : torch.nn.Module
    x_test, y_test : clean test data -> ``clean_accuracy``.
    x_adv_heldout, y_adv_heldout : optional
        Adversarial examples crafted against the *original* network, from perturbation
        groups not used in retraining, with their clean labels -> ``heldout_accuracy``
        (the study's evaluation; a transfer setting).
    attack : callable ``attack(model, x, y) -> x_adv``, optional
        Run afresh against the *retrained* model on the first ``n_fresh`` test inputs
        -> ``fresh_adversarial_accuracy`` (the honest, adaptive-adversary evaluation).
    n_fresh : int, default=500

    Returns
    -------
    dict of str -> float
    """
    out = {"clean_accuracy": accuracy(model, x_test, y_test)}
    if x_adv_heldout is not None:
        if y_adv_heldout is None:
            raise ConfigError("x_adv_heldout needs y_adv_heldout (the clean labels).")
        out["heldout_accuracy"] = accuracy(model, x_adv_heldout, y_adv_heldout)
    if attack is not None:
        xs, ys = as_float_tensor(x_test)[:n_fresh], y_test[:n_fresh]
        was_training = model.training
        model.eval()
        try:
            x_adv = attack(model, xs, ys)
        finally:
            model.train(was_training)
        out["fresh_adversarial_accuracy"] = accuracy(model, x_adv, ys)
        out["n_fresh"] = float(len(xs))
    return out

