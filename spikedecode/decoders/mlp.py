"""Multi-layer perceptron decoder on flattened spike-count windows (a TorchClassifier preset)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from spikedecode.decoders.torch_estimator import TorchClassifier

__all__ = ["MLPDecoder"]


class MLPDecoder(TorchClassifier):
    """MLP classifier of (sample, lag, unit) windows (flattened), trained with torch.

    A preset: ``MLPDecoder(hidden_layer_sizes=h, dropout=d, **rest)`` trains exactly as
    ``TorchClassifier(module="mlp", module_params={"hidden_layer_sizes": h, "dropout": d},
    **rest)``; only the network parameters are its own.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64,)
        Widths of the hidden ReLU layers.
    dropout : float, default=0.0
    max_epochs, batch_size, lr, weight_decay, optimizer, validation_fraction, patience, \
grad_clip, n_lags, bootstrap, device, random_state, progress, warm_start, loss_terms, \
transforms, callbacks, early_stopping_metric, standardize
        As in :class:`~spikedecode.decoders.TorchClassifier`.

    Attributes
    ----------
    module_ : spikedecode.decoders._nets.MLPNet
    classes_, n_features_in_, input_shape_, device_, history_, n_epochs_
        As in :class:`~spikedecode.decoders.TorchClassifier`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(2.0, size=(120, 3, 4)).astype("float32")
    >>> y = np.where(X[:, :, 0].sum(1) > 6, "a", "b")
    >>> clf = MLPDecoder(hidden_layer_sizes=(16,), max_epochs=40, lr=0.01, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.8
    True
    """

    _preset = "mlp"
    _network_params = ("hidden_layer_sizes", "dropout")

    def __init__(
        self,
        *,
        hidden_layer_sizes: Sequence[int] = (64,),
        dropout: float = 0.0,
        max_epochs: int = 100,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str | Callable = "adam",
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        grad_clip: float | None = None,
        n_lags: int | None = None,
        bootstrap: bool | str = False,
        device: Any = "auto",
        random_state: Any = None,
        progress: bool = False,
        warm_start: bool = False,
        loss_terms: Sequence[Any] = (),
        transforms: Sequence[Any] = (),
        callbacks: Sequence[Any] = (),
        early_stopping_metric: str = "loss",
        standardize: bool | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.grad_clip = grad_clip
        self.n_lags = n_lags
        self.bootstrap = bootstrap
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.warm_start = warm_start
        self.loss_terms = loss_terms
        self.transforms = transforms
        self.callbacks = callbacks
        self.early_stopping_metric = early_stopping_metric
        self.standardize = standardize
