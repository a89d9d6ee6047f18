"""LSTM / GRU regressors for continuous targets, trained by the project's one training loop.

The lags of a window are the time steps and the units the features, as for
:class:`~spikedecode.decoders.LSTMDecoder`; the read-out of the last step's hidden state
is a linear map to the outputs, trained with the mean squared error on standardised
targets (:func:`spikedecode.training.train`, ``loss="mse"``). Inputs are standardised
with the training part's per-unit mean and standard deviation when ``standardize=True``
(the default here; the tutorial and docs compare it with ``False`` on chewie). Early
stopping watches the **last** ``validation_fraction`` of the training samples — a
contiguous block in time, not a random draw, so autocorrelated neighbours of the
validation samples do not train the network.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from spikedecode._validation import Interval, Options, check_param

__all__ = ["RecurrentRegressor", "RecurrentNet"]

nn = torch.nn


class RecurrentNet(nn.Module):
    """(batch, time, unit) -> (batch, n_outputs): a recurrent stack and a linear read-out.

    Parameters
    ----------
    cell : {"lstm", "gru"}
    n_units, hidden_size, num_layers : int
    dropout : float
        Between stacked layers.
    n_outputs : int

    Examples
    --------
    >>> net = RecurrentNet("gru", 3, 4, 1, 0.0, 2)
    >>> tuple(net(torch.zeros(5, 7, 3)).shape)
    (5, 2)
    """

    def __init__(self, cell: str, n_units: int, hidden_size: int, num_layers: int,
                 dropout: float, n_outputs: int) -> None:
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(n_units, hidden_size, num_layers=num_layers, batch_first=True,
                       dropout=dropout if num_layers > 1 else 0.0)
        self.readout = nn.Linear(hidden_size, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out, _ = self.rnn(x)
        return self.readout(out[:, -1, :])


class RecurrentRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """LSTM or GRU regressor on lagged windows (``(sample, lag, unit)``).

    Parameters
    ----------
    cell : {"lstm", "gru"}, default="lstm"
    hidden_size : int, default=32
    num_layers : int, default=1
    dropout : float, default=0.0
        Between stacked layers (``num_layers > 1``).
    max_epochs : int, default=100
    batch_size : int, default=64
    lr : float, default=3e-3
    weight_decay : float, default=0.0
    patience : int or None, default=10
        Early stopping on the validation loss (best weights restored); None trains
        ``max_epochs``.
    validation_fraction : float, default=0.1
        The last share of the training samples (in time order) held out for early
        stopping; 0 disables it.
    standardize : bool, default=True
        z-score each unit with the training part's statistics.
    device : {"cpu", "cuda", "auto"}, default="cpu"
    random_state : int, Generator or None, default=None

    Attributes
    ----------
    module_ : torch.nn.Module
    history_ : spikedecode.training.History
    n_epochs_ : int
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 4, 3)).astype(np.float32)
    >>> y = X[:, :, 0].sum(1) - X[:, -1, 2]
    >>> reg = RecurrentRegressor(max_epochs=60, random_state=0).fit(X, y)
    >>> reg.predict(X).shape, reg.score(X, y) > 0.8
    ((300,), True)
    """

    def __init__(self, cell: str = "lstm", hidden_size: int = 32, num_layers: int = 1,
                 dropout: float = 0.0, max_epochs: int = 100, batch_size: int = 64,
                 lr: float = 3e-3, weight_decay: float = 0.0, patience: int | None = 10,
                 validation_fraction: float = 0.1, standardize: bool = True,
                 device: str = "cpu", random_state: Any = None) -> None:
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.device = device
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags

    def _seq(self, X: Any, reset: bool) -> NDArray[np.float32]:
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=np.float32)
        if X.ndim == 2:  # a 2-D X is a sequence of length 1 per sample
            X = X[:, None, :]
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
        return (X - self.x_mean_) / self.x_scale_ if hasattr(self, "x_mean_") and not reset \
            else X

    def fit(self, X: ArrayLike, y: ArrayLike) -> RecurrentRegressor:
        """Train the network.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_lags, n_units) or (n_samples, n_features)
            In time order.
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        from spikedecode._random import draw_seed, torch_seeded
        from spikedecode.training import resolve_device, train

        check_param(self.cell, "cell", Options("lstm", "gru"))
        hidden = check_param(self.hidden_size, "hidden_size", Interval(Integral, 1, None))
        layers = check_param(self.num_layers, "num_layers", Interval(Integral, 1, None))
        dropout = check_param(self.dropout, "dropout", Interval(Real, 0, 1, closed="left"))
        frac = check_param(self.validation_fraction, "validation_fraction",
                           Interval(Real, 0, 1, closed="left"))
        _, y = validate_data(self, X, y, multi_output=True, y_numeric=True, allow_nd=True,
                             dtype=np.float32)
        for attr in ("x_mean_", "x_scale_"):
            self.__dict__.pop(attr, None)
        Xs = self._seq(X, reset=True)
        Y = np.asarray(y, dtype=np.float64)
        self._y_1d = Y.ndim == 1
        Y = Y[:, None] if Y.ndim == 1 else Y
        n = len(Xs)
        n_val = int(round(frac * n)) if n >= 20 else 0
        tr = np.arange(n - n_val)
        va = np.arange(n - n_val, n)
        flat = Xs[tr].reshape(-1, Xs.shape[-1])
        if self.standardize:
            self.x_mean_ = flat.mean(0).astype(np.float32)
            self.x_scale_ = np.where(flat.std(0) > 0, flat.std(0), 1.0).astype(np.float32)
        else:
            self.x_mean_ = np.zeros(Xs.shape[-1], np.float32)
            self.x_scale_ = np.ones(Xs.shape[-1], np.float32)
        Xs = (Xs - self.x_mean_) / self.x_scale_
        self.y_mean_ = Y[tr].mean(0)
        self.y_scale_ = np.where(Y[tr].std(0) > 0, Y[tr].std(0), 1.0)
        Yz = ((Y - self.y_mean_) / self.y_scale_).astype(np.float32)
        seed = draw_seed(self.random_state)
        self.device_ = resolve_device(self.device)
        with torch_seeded(seed):
            self.module_ = RecurrentNet(self.cell, Xs.shape[-1], hidden, layers, dropout,
                                        Y.shape[1])
        x_t, y_t = torch.from_numpy(np.ascontiguousarray(Xs)), torch.from_numpy(Yz)
        val = (x_t[va], y_t[va]) if len(va) else None
        self.history_ = train(
            self.module_, (x_t[tr], y_t[tr]), val_data=val, loss="mse", lr=float(self.lr),
            weight_decay=float(self.weight_decay), max_epochs=int(self.max_epochs),
            batch_size=int(self.batch_size),
            patience=int(self.patience) if (self.patience is not None and val is not None)
            else None, device=self.device_, random_state=seed)
        self.n_epochs_ = len(self.history_.epochs)
        self.module_.eval()
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predict the target.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_lags, n_units) or (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self, "module_")
        Xs = self._seq(X, reset=False)
        with torch.no_grad():
            out = self.module_(torch.from_numpy(np.ascontiguousarray(Xs)).to(self.device_))
        pred = out.cpu().numpy().astype(np.float64) * self.y_scale_ + self.y_mean_
        return pred[:, 0] if self._y_1d else pred
