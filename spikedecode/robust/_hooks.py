"""Layer lookup and activation capture, shared by every ``spikedecode.robust`` module.

One convention for "the activation of a layer"
-----------------------------------------------
The activation of a layer is the tensor its ``forward`` returns. A module that returns a
tuple or list gives its **first element**. For the recurrent layers of torch this is the
**output sequence**: ``nn.LSTM`` returns ``(output, (h_n, c_n))`` and ``nn.GRU`` /
``nn.RNN`` return ``(output, h_n)``; the activation is ``output``, one hidden state per
time step (``(batch, time, D * hidden)`` with ``batch_first=True``, ``(time, batch, D *
hidden)`` otherwise), never ``h_n``. :func:`layer_output` applies the convention.

Code that needs *one vector per sample* from a layer (the spectral analysis: covariances,
eigenspectra, the 1/n penalty) calls :func:`flatten_activation`. It flattens everything
after the batch axis, except for a recurrent layer, where it takes the **final hidden
state** from the output sequence explicitly (:func:`final_state`): the last time step of
the forward direction, and for a bidirectional layer the first time step of the backward
direction. That equals the last layer's ``h_n`` of torch (both directions concatenated).

Layer lookup
------------
:func:`resolve_layer` / :func:`resolve_layers` take a dotted name of
``model.named_modules()`` (``"fc1"``, ``"features.3"``) or the submodule itself, and raise
:class:`~spikedecode.errors.ConfigError` listing the available names.

Capture
-------
:class:`LayerCapture` registers one forward hook per layer and stores what it records
(the layer output, or ``transform(module, output)``). Everything that records activations
(``hardneg.ActivationRecorder``, the spectral regularizer, ``spectra.layer_covariance``,
``spectra.sensitivity_map``) uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from spikedecode.errors import ConfigError, SpikeDecodeTypeError
from spikedecode.robust._utils import model_device

_RECURRENT = (nn.LSTM, nn.GRU, nn.RNN)
_SHOWN = 20  # at most this many layer names in an error message


# ----------------------------------------------------------------------------- lookup
def _available(model: nn.Module) -> list[str]:
    return [n for n, _ in model.named_modules() if n][:_SHOWN]


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """The submodule ``layer`` (a dotted name or the module) of ``model``.

    ``""`` is the model itself. Raises ConfigError naming the available layers.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    >>> resolve_layer(net, "1") is net[1]
    True
    """
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ConfigError(
                f"layer {type(layer).__name__} is not a submodule of {type(model).__name__}; "
                f"pass one of its modules or a name of model.named_modules(), e.g. "
                f"{_available(model)}."
            )
        return layer
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer) if layer else model
        except AttributeError as err:
            raise ConfigError(
                f"layer == {layer!r} is not a submodule of {type(model).__name__}; "
                f"choose one of the names of model.named_modules(), e.g. {_available(model)}."
            ) from err
    raise SpikeDecodeTypeError(
        f"layer must be a submodule name (str) or an nn.Module; got {type(layer).__name__}."
    )


def resolve_layers(model: nn.Module, layers: Any) -> dict[str, nn.Module]:
    """``{name: module}`` for one layer or a sequence of layers (names or modules).

    A module passed directly is named by its path in ``model`` (``"<model>"`` for the model
    itself).

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    >>> list(resolve_layers(net, ["0", net[1]]))
    ['0', '1']
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    if not isinstance(layers, (Sequence, Iterator)) or isinstance(layers, bytes):
        raise SpikeDecodeTypeError(
            f"layers must be a name, an nn.Module or a sequence of them; got "
            f"{type(layers).__name__}.")
    paths = {id(m): n for n, m in model.named_modules()}
    out: dict[str, nn.Module] = {}
    for layer in layers:
        module = resolve_layer(model, layer)
        out[layer if isinstance(layer, str) else (paths[id(module)] or "<model>")] = module
    if not out:
        raise ConfigError("layers is empty; name at least one layer.")
    return out


def named_leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of the leaf submodules of ``model`` (no children), in order."""
    return [(n, m) for n, m in model.named_modules() if n and not list(m.children())]


# ----------------------------------------------------------------------------- convention
def layer_output(output: Any) -> torch.Tensor:
    """The activation in a forward ``output``: the tensor, or the first element of a tuple.

    For ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` that is the output sequence (module docstring).

    Examples
    --------
    >>> lstm = nn.LSTM(3, 4, batch_first=True)
    >>> tuple(layer_output(lstm(torch.zeros(2, 5, 3))).shape)
    (2, 5, 4)
    """
    if torch.is_tensor(output):
        return output
    if isinstance(output, (tuple, list)) and output and torch.is_tensor(output[0]):
        return output[0]
    raise SpikeDecodeTypeError(
        f"the layer returned {type(output).__name__}; use a layer whose output is a tensor "
        "(or a tuple whose first element is one)."
    )


def replace_output(output: Any, new: torch.Tensor) -> Any:
    """``output`` with its activation (see :func:`layer_output`) replaced by ``new``."""
    if isinstance(output, (tuple, list)):
        return type(output)((new, *output[1:])) if isinstance(output, tuple) else \
            [new, *output[1:]]
    return new


def final_state(module: nn.Module, sequence: torch.Tensor) -> torch.Tensor:
    """The final hidden state ``(batch, D * hidden)`` of a recurrent layer's output sequence.

    Forward direction: the last time step; backward direction (bidirectional layers): the
    first time step. Equal to the last layer's ``h_n`` of torch.

    Examples
    --------
    >>> lstm = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    >>> seq, (h_n, _c) = lstm(torch.randn(2, 5, 3))
    >>> bool(torch.allclose(final_state(lstm, seq), torch.cat([h_n[-2], h_n[-1]], -1)))
    True
    """
    if not isinstance(module, _RECURRENT):
        raise SpikeDecodeTypeError(f"final_state needs an nn.LSTM, nn.GRU or nn.RNN; got "
                                   f"{type(module).__name__}.")
    if not torch.is_tensor(sequence):
        raise SpikeDecodeTypeError(
            f"{type(module).__name__} returned {type(sequence).__name__} as its output "
            "sequence; pass padded tensors, not a PackedSequence.")
    seq = sequence if module.batch_first else sequence.transpose(0, 1)  # (batch, time, D*H)
    if seq.ndim == 2:  # unbatched input: (time, D*H)
        seq = seq.unsqueeze(0)
    if not module.bidirectional:
        return seq[:, -1]
    h = seq.shape[-1] // 2
    return torch.cat([seq[:, -1, :h], seq[:, 0, h:]], dim=-1)


def flatten_activation(module: nn.Module, output: Any) -> torch.Tensor:
    """One ``(batch, features)`` vector per sample from a layer's forward ``output``.

    A recurrent layer gives its final hidden state (:func:`final_state`); any other layer
    its activation (:func:`layer_output`) flattened after the batch axis.

    Examples
    --------
    >>> conv = nn.Conv2d(1, 2, 3)
    >>> tuple(flatten_activation(conv, conv(torch.zeros(4, 1, 5, 5))).shape)
    (4, 18)
    """
    act = layer_output(output)
    if isinstance(module, _RECURRENT):
        return final_state(module, act)
    return act.reshape(act.shape[0], -1)


# ----------------------------------------------------------------------------- capture
class _StopForward(Exception):
    """Raised by a capture hook once every wanted layer has run (skips the rest)."""


class LayerCapture:
    """Forward hooks that store each layer's activation as the model runs.

    Parameters
    ----------
    layers : dict of str -> nn.Module
        From :func:`resolve_layers`.
    transform : callable ``(module, output) -> Tensor``, optional
        What to store; default :func:`layer_output` (the convention above).
    keep_graph : bool, default=False
        Store the tensors as they are (on their device, with their graph); otherwise
        detached copies on the CPU.
    when : callable ``(module) -> bool``, optional
        Record only when it returns True (e.g. only in training mode with gradients).
    stop_when_complete : bool, default=False
        Abort the forward pass once every layer has been recorded since :meth:`clear`
        (run the model through :meth:`run`).
    latest_only : bool, default=False
        Keep only the latest record of each layer (a training loss term that reads the
        activations of the current batch).

    Attributes
    ----------
    outputs : dict of str -> list of Tensor
        One entry per forward call of each layer, cleared by :meth:`clear`.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> with LayerCapture(resolve_layers(net, "1")) as cap:
    ...     _ = net(torch.zeros(4, 2))
    >>> tuple(cap.outputs["1"][0].shape), len(net[1]._forward_hooks)
    ((4, 3), 0)
    """

    def __init__(self, layers: Mapping[str, nn.Module], *,
                 transform: Callable[[nn.Module, Any], torch.Tensor] | None = None,
                 keep_graph: bool = False, when: Callable[[nn.Module], bool] | None = None,
                 stop_when_complete: bool = False, latest_only: bool = False) -> None:
        self.layers = dict(layers)
        self.transform = transform
        self.keep_graph = keep_graph
        self.when = when
        self.stop_when_complete = stop_when_complete
        self.latest_only = latest_only
        self.outputs: dict[str, list[torch.Tensor]] = {name: [] for name in self.layers}
        self._handles: list[Any] = []

    def _hook(self, name: str) -> Callable:
        def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
            if self.when is not None and not self.when(module):
                return
            t = layer_output(output) if self.transform is None else self.transform(module,
                                                                                    output)
            t = t if self.keep_graph else t.detach().cpu()
            if self.latest_only:
                self.outputs[name] = [t]
            else:
                self.outputs[name].append(t)
            if self.stop_when_complete and all(self.outputs.values()):
                raise _StopForward
        return hook

    def attach(self) -> LayerCapture:
        """Register the hooks (idempotent)."""
        if not self._handles:
            self._handles = [module.register_forward_hook(self._hook(name))
                             for name, module in self.layers.items()]
        return self

    def remove(self) -> None:
        """Remove every hook this capture registered."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def clear(self) -> None:
        """Forget what was recorded."""
        self.outputs = {name: [] for name in self.layers}

    def last(self) -> list[torch.Tensor]:
        """The latest record of every layer, in the order of ``layers``."""
        missing = [n for n, v in self.outputs.items() if not v]
        if missing:
            raise ConfigError(f"layers {missing!r} did not run in the forward pass; check that "
                              "the model's forward() uses them.")
        return [v[-1] for v in self.outputs.values()]

    def run(self, model: nn.Module, x: torch.Tensor) -> None:
        """``model(x)``, stopping early when ``stop_when_complete`` and all layers ran."""
        try:
            model(x)
        except _StopForward:
            pass

    def __enter__(self) -> LayerCapture:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def iter_activations(model: nn.Module, X: torch.Tensor, layers: Sequence[Any], *,
                     batch_size: int = 4096) -> Iterator[list[torch.Tensor]]:
    """Yield, batch by batch, :func:`flatten_activation` of ``layers`` (eval mode, no grad).

    The forward pass stops once the last wanted layer has run.
    """
    named = resolve_layers(model, list(layers))
    if len(named) != len(layers):
        raise ConfigError(f"layers == {list(layers)!r} names a layer twice.")
    cap = LayerCapture(named, transform=flatten_activation, keep_graph=True,
                       stop_when_complete=True)
    was_training = model.training
    dev = model_device(model)
    model.eval()
    try:
        with torch.no_grad(), cap:
            for i in range(0, len(X), batch_size):
                cap.clear()
                cap.run(model, X[i : i + batch_size].to(dev))
                yield cap.last()
    finally:
        model.train(was_training)
