"""Plain ``nn.Module`` decoders: (batch, lag, unit) float tensors in, logits out.

No softmax, no numpy, no device logic: the estimators in :mod:`spikedecode.decoders`
wrap these, and :mod:`spikedecode.robust` can attack them directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLPNet", "LSTMNet", "InputReshape"]


class MLPNet(nn.Module):
    """Multi-layer perceptron on the flattened window.

    Parameters
    ----------
    n_inputs : int
        ``lag * unit`` (the window is flattened).
    n_classes : int
    hidden_layer_sizes : sequence of int, default=(64,)
    dropout : float, default=0.0

    Examples
    --------
    >>> net = MLPNet(10, 3, hidden_layer_sizes=(8,))
    >>> net(torch.zeros(4, 2, 5)).shape
    torch.Size([4, 3])
    """

    def __init__(self, n_inputs: int, n_classes: int, hidden_layer_sizes: Sequence[int] = (64,),
                 dropout: float = 0.0) -> None:
        super().__init__()
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
        return self.layers(x.flatten(1))


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
        self.lstm = nn.LSTM(int(n_units), int(hidden_size), num_layers=int(num_layers),
                            batch_first=True,
                            dropout=float(dropout) if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(float(dropout))
        self.head = nn.Linear(int(hidden_size), int(n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.ndim == 2:  # a flat window counts as a sequence of length 1
            x = x.unsqueeze(1)
        out, _ = self.lstm(x)
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
