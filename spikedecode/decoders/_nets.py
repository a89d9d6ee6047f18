"""Plain ``nn.Module`` decoders: (batch, lag, unit) float tensors in, logits out.

No softmax, no numpy, no device logic: the estimators in :mod:`spikedecode.decoders`
wrap these, and :mod:`spikedecode.robust` can attack them directly.

:data:`NETWORKS` is the registry of built-in networks by name (``"mlp"``, ``"lstm"``):
``TorchClassifier(module="mlp", module_params={...})`` builds one, and the presets
``MLPDecoder`` / ``LSTMDecoder`` are nothing but such a name plus a friendly signature.
The estimators import this module; it imports none of them (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["MLPNet", "LSTMNet", "InputReshape", "InputScale", "NETWORKS"]


class InputScale(nn.Module):
    """Per-feature standardisation ``(x - mean) / scale`` on the last axis, as buffers.

    Identity until ``set_`` is called; the estimators set it from the training data
    (``standardize``), so the fitted network maps *raw* inputs to logits and attacks,
    ``torch_module()`` and saved models all see the same thing.

    Examples
    --------
    >>> s = InputScale(2); s.set_(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]))
    >>> s(torch.tensor([[3.0, 6.0]])).tolist()
    [[1.0, 1.0]]
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(int(n_features)))
        self.register_buffer("scale", torch.ones(int(n_features)))

    def set_(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """Copy ``mean`` and ``scale`` (each of shape (n_features,)) into the buffers."""
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
            self.scale.copy_(torch.as_tensor(scale, dtype=self.scale.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return (x - self.mean) / self.scale


class MLPNet(nn.Module):
    """Multi-layer perceptron on the flattened window.

    Parameters
    ----------
    n_inputs : int
        ``lag * unit`` (the window is flattened).
    n_classes : int
    hidden_layer_sizes : sequence of int, default=(64,)
    dropout : float, default=0.0
    n_units : int or None, default=None
        Size of the last input axis: the input standardisation (``input_scale``) acts per
        unit, before flattening. None: per flattened feature.

    Examples
    --------
    >>> net = MLPNet(10, 3, hidden_layer_sizes=(8,))
    >>> net(torch.zeros(4, 2, 5)).shape
    torch.Size([4, 3])
    """

    def __init__(self, n_inputs: int, n_classes: int, hidden_layer_sizes: Sequence[int] = (64,),
                 dropout: float = 0.0, n_units: int | None = None) -> None:
        super().__init__()
        self.per_unit = n_units is not None
        self.input_scale = InputScale(int(n_units) if n_units is not None else int(n_inputs))
        layers: list[nn.Module] = []
        width = int(n_inputs)
        for h in hidden_layer_sizes:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            width = int(h)
        layers.append(nn.Linear(width, int(n_classes)))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.per_unit:
            return self.layers(self.input_scale(x).flatten(1))
        return self.layers(self.input_scale(x.flatten(1)))


class LSTMNet(nn.Module):
    """Stacked LSTM over the lags of a window, read out from the last time step.

    Parameters
    ----------
    n_units : int
        Features per time step (units, or aligned components).
    n_classes : int
    hidden_size : int, default=64
    num_layers : int, default=3
    dropout : float, default=0.2
        Dropout between LSTM layers and before the read-out.

    Examples
    --------
    >>> net = LSTMNet(5, 2, hidden_size=4, num_layers=2)
    >>> net(torch.zeros(3, 7, 5)).shape
    torch.Size([3, 2])
    """

    def __init__(self, n_units: int, n_classes: int, hidden_size: int = 64, num_layers: int = 3,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.input_scale = InputScale(int(n_units))
        self.lstm = nn.LSTM(int(n_units), int(hidden_size), num_layers=int(num_layers),
                            batch_first=True,
                            dropout=float(dropout) if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(float(dropout))
        self.head = nn.Linear(int(hidden_size), int(n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.ndim == 2:  # a flat window counts as a sequence of length 1
            x = x.unsqueeze(1)
        out, _ = self.lstm(self.input_scale(x))
        return self.head(self.drop(out[:, -1]))


class InputReshape(nn.Module):
    """Reshape ``(batch, ...)`` to ``(batch, *shape)`` then call ``module``.

    Lets a decoder trained on (sample, lag, unit) windows accept flat
    (sample, lag * unit) tensors and vice versa.
    """

    def __init__(self, module: nn.Module, shape: Sequence[int]) -> None:
        super().__init__()
        self.module = module
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.module(x.reshape(x.shape[0], *self.shape))


def _mlp(input_shape: Sequence[int], n_classes: int, *, hidden_layer_sizes: Sequence[int] = (64,),
         dropout: float = 0.0) -> MLPNet:
    """Factory of :class:`MLPNet` for ``(lag, unit)`` windows (standardised per unit)."""
    n_inputs = 1
    for s in input_shape:
        n_inputs *= int(s)
    return MLPNet(n_inputs, n_classes, hidden_layer_sizes=tuple(hidden_layer_sizes),
                  dropout=float(dropout), n_units=int(input_shape[-1]))


def _lstm(input_shape: Sequence[int], n_classes: int, *, hidden_size: int = 64,
          num_layers: int = 3, dropout: float = 0.2) -> LSTMNet:
    """Factory of :class:`LSTMNet`: the lags are time steps, the last axis the features."""
    return LSTMNet(int(input_shape[-1]), n_classes, hidden_size=int(hidden_size),
                   num_layers=int(num_layers), dropout=float(dropout))


#: Built-in networks by name: ``factory(input_shape, n_classes, **module_params)``.
NETWORKS: dict[str, Callable[..., Any]] = {"mlp": _mlp, "lstm": _lstm}
