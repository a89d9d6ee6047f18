"""Self-introspection: map a classifier's hidden state to 2-D and read its confidence there.

After Pardo et al.: record the concatenated hidden activations of a classifier, compress
them with an InfoVAE (an autoencoder whose latent code is pushed to a standard normal by a
maximum-mean-discrepancy term) into a 2-D map, train an error estimator on the map that
predicts the classifier's expected error, and use the map to see confidence, reorder
units by the class they serve ("artificial brainbow"), watch noise (constellations) and
attacks (trajectories) move the network's state, and detect misclassified, noisy and
adversarial inputs.

Everything works on any ``torch.nn.Module`` (Net1 on MNIST, a CNN, or the ``module_`` of a
spike decoder fed (batch, lag, unit) windows); the InfoVAE and the error estimator train
through :func:`spikedecode.training.train`.

Design choices (details in ``docs/robust_inside.md``)
-----------------------------------------------------
* The classifier's error on one input is Pardo et al.'s ``e = 1/2 sum_k (p_k -
  onehot_k)**2`` between its output probabilities (softmax of logits, or the sigmoid of
  a one-vs-rest network such as Net1) and the one-hot label, floored at ``1e-8``.
* The error estimator regresses ``e`` itself (loss ``1/2 (ê - e)**2``, as Pardo et al.),
  so ``ê(z)`` estimates the expected error ``E[e | z]``; the confidence is
  ``c = -log10 ê`` with ``ê`` clipped to a small positive floor.
* The InfoVAE uses ``alpha = 1`` of Zhao et al. (no KL term, deterministic encoder) by
  default: loss = MSE reconstruction of the standardised activations + ``mmd_weight`` ·
  MMD(q(z), N(0, I)) with a Gaussian kernel summed over several bandwidths.
* ``expected_activation`` defaults to the decoder evaluated at the class's mean z
  (``method="centroid"``); the study's Riemann-sum estimate (``"riemann"``: decoder on a
  grid weighted by a kernel density of the class's z) and the direct conditional mean of
  the recorded activations (``"direct"``) are available.
* Detection scores are "anomaly" scores, higher = more suspicious: ``log10 ê``
  (i.e. minus the confidence ``c = -log10 ê``) and the Mahalanobis distance of z to the
  cluster of the predicted class. AUROC > 0.5 means the score separates the suspicious
  inputs from clean, correctly classified ones.

Examples
--------
>>> import torch
>>> a = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
>>> float(mmd(a, a))
0.0
>>> float(mmd(a, a + 3.0)) > 0.5
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from spikedecode._random import RandomStateLike, check_generator, draw_seed, torch_seeded
from spikedecode._validation import Interval, Options, check_param, check_params
from spikedecode.errors import ConfigError, SpikeDecodeTypeError, SpikeDecodeValueError
from spikedecode.robust._hooks import named_leaves
from spikedecode.robust._utils import as_float_tensor, model_device
from spikedecode.robust.hardneg import ActivationRecorder
from spikedecode.training import Callback, TrainState, predict_logits, train

__all__ = [
    "hidden_layers",
    "record_hidden",
    "HiddenActivationHistory",
    "mmd",
    "InfoVAE",
    "classifier_error",
    "ErrorEstimator",
    "Introspector",
    "expected_activation",
    "reorder_units",
    "unit_selectivity",
    "constellation",
    "attack_trajectory",
    "detection_auroc",
]

_ACTIVATIONS = ("ReLU", "ELU", "LeakyReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "SELU",
                "Softplus", "PReLU", "Mish", "Hardtanh")


# ----------------------------------------------------------------------------- recording
def hidden_layers(model: Any, *, include_output: bool = False) -> list[str]:
    """Names of the activation modules of ``model`` (its hidden layers), in forward order.

    Leaf modules whose class is a torch activation (ReLU, ELU, Tanh, Sigmoid, ...). The last
    one is dropped unless ``include_output`` (it is usually the output nonlinearity, e.g.
    Net1's sigmoid) — only when it is the last leaf module.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    include_output : bool, default=False
        Keep the last activation even when it is the last leaf module.

    Returns
    -------
    list of str
        Module names as in ``model.named_modules()``.

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ELU(), nn.Linear(4, 4), nn.ELU(),
    ...                     nn.Linear(4, 2), nn.Sigmoid())
    >>> hidden_layers(net)
    ['1', '3']
    """
    leaves = named_leaves(model)
    names = [n for n, m in leaves if type(m).__name__ in _ACTIVATIONS]
    if names and not include_output and leaves and names[-1] == leaves[-1][0]:
        names = names[:-1]
    if not names:
        raise ConfigError(
            f"{type(model).__name__} has no activation modules (nn.ReLU, nn.ELU, ...) to record; "
            "pass layers=[...] with the names of the modules whose outputs are the hidden state."
        )
    return names


def record_hidden(model: Any, x: ArrayLike, layers: Sequence[str] | None = None, *,
                  batch_size: int = 512) -> Any:
    """Concatenated hidden activations of ``model`` on ``x``.

    Parameters
    ----------
    model : torch.nn.Module
    x : array-like, shape (n_samples, ...)
    layers : sequence of str, optional
        Module names; default :func:`hidden_layers`.
    batch_size : int, default=512

    Returns
    -------
    xarray.DataArray
        Dims ``("sample", "unit")``; coords ``layer`` (per unit: the module it came from)
        and ``index`` (the unit's index inside that layer).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5), nn.ReLU(),
    ...                     nn.Linear(5, 2))
    >>> h = record_hidden(net, torch.rand(6, 3))
    >>> h.shape, sorted(set(h.layer.values.tolist()))
    ((6, 9), ['1', '3'])
    """
    import xarray as xr

    names = list(layers) if layers is not None else hidden_layers(model)
    acts = ActivationRecorder(model, names).record(x, batch_size=batch_size)
    parts = [acts[n].values for n in names]
    layer = np.concatenate([np.full(p.shape[1], n, dtype=object) for n, p in zip(names, parts)])
    index = np.concatenate([np.arange(p.shape[1]) for p in parts])
    return xr.DataArray(np.concatenate(parts, axis=1).astype(np.float32), dims=("sample", "unit"),
                        coords={"layer": ("unit", layer.astype(str)), "index": ("unit", index)},
                        name="hidden")


class HiddenActivationHistory(Callback):
    """Training callback: record the hidden state on a fixed probe set after every epoch.

    Pass it to :func:`spikedecode.training.train` (``callbacks=[...]``) to draw the
    trajectories of inputs through the network's state space during learning.

    Parameters
    ----------
    x_probe : array-like, shape (n_probe, ...)
    layers : sequence of str, optional
        Default :func:`hidden_layers` of the trained module.
    every : int, default=1
        Record every ``every`` epochs (and always before the first epoch).

    Attributes
    ----------
    records_ : list of (epoch, ndarray (n_probe, n_units))
        ``epoch == -1`` is the state before training.
    """

    def __init__(self, x_probe: ArrayLike, layers: Sequence[str] | None = None, *,
                 every: int = 1) -> None:
        self.x_probe = x_probe
        self.layers = layers
        self.every = every
        self.records_: list[tuple[int, NDArray]] = []

    def _record(self, module: Any, epoch: int) -> None:
        h = record_hidden(module, self.x_probe, self.layers)
        self.records_.append((epoch, h.values))
        self._coords = {k: v.values for k, v in h.coords.items()}

    def on_train_begin(self, state: TrainState) -> None:  # noqa: D102
        self.records_ = []
        self._record(state.module, -1)
        state.module.train()

    def on_epoch_end(self, state: TrainState) -> None:  # noqa: D102
        if (state.epoch + 1) % self.every == 0:
            self._record(state.module, state.epoch)
            state.module.train()

    def to_dataarray(self) -> Any:
        """The records as a DataArray ``(epoch, sample, unit)``."""
        import xarray as xr

        if not self.records_:
            raise SpikeDecodeValueError("nothing recorded yet; pass the callback to train().")
        epochs = [e for e, _ in self.records_]
        data = np.stack([h for _, h in self.records_])
        return xr.DataArray(data, dims=("epoch", "sample", "unit"),
                            coords={"epoch": epochs, "layer": ("unit", self._coords["layer"]),
                                    "index": ("unit", self._coords["index"])}, name="hidden")


# ----------------------------------------------------------------------------- InfoVAE
def mmd(x: Any, y: Any, *, kernel: str = "rbf",
        bandwidth: float | Sequence[float] | None = None) -> Any:
    """Maximum mean discrepancy between two samples (biased V-statistic, >= 0).

    ``MMD² = mean k(x, x') + mean k(y, y') - 2 mean k(x, y)``; exactly 0 when ``x`` and
    ``y`` are the same sample, near 0 for two samples of one distribution.

    Parameters
    ----------
    x, y : Tensor, shape (n, d) and (m, d)
    kernel : {"rbf", "imq"}, default="rbf"
        Gaussian ``exp(-|a-b|² / h)`` or inverse multiquadric ``h / (h + |a-b|²)``.
    bandwidth : float or sequence of float, optional
        ``h``; default ``d²`` for rbf, the kernel of Zhao et al.'s MMD-VAE code
        (``exp(-mean_d((a-b)²) / d)`` = ``exp(-|a-b|² / d²)``), and ``2 d`` for imq (the
        ``C = 2 d σ²`` of Tolstikhin et al.'s WAE with a unit prior). A sequence sums
        the kernels over several bandwidths (multi-scale): the large ones keep a gradient
        on far outliers, which a single narrow kernel does not see.

    Returns
    -------
    Tensor (scalar)
        The discrepancy: near 0 for samples of one distribution.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> a, b = torch.randn(200, 2, generator=g), torch.randn(200, 2, generator=g)
    >>> bool(mmd(a, b) < mmd(a, b + 3.0))
    True
    """
    x = x if torch.is_tensor(x) else as_float_tensor(x)
    y = y if torch.is_tensor(y) else as_float_tensor(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise SpikeDecodeValueError(
            f"mmd needs two (n, d) samples of one dimension d; got {tuple(x.shape)} and "
            f"{tuple(y.shape)}.")
    d = x.shape[1]
    check_param(kernel, "kernel", Options("rbf", "imq"))
    if bandwidth is None:
        hs = [float(d * d) if kernel == "rbf" else 2.0 * d]
    elif isinstance(bandwidth, (int, float)):
        hs = [float(bandwidth)]
    else:
        hs = [float(b) for b in bandwidth]
    if not hs or min(hs) <= 0:
        raise ConfigError(f"bandwidth == {bandwidth!r}, must be > 0 (or a sequence of them).")

    def k(a, b):
        d2 = torch.cdist(a, b).pow(2)
        if kernel == "rbf":
            return sum(torch.exp(-d2 / h) for h in hs)
        return sum(h / (h + d2) for h in hs)

    val = k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
    return val.clamp_min(0.0)


def _mlp(sizes: Sequence[int], act: Any) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class VAENet(nn.Module):
    """Encoder -> (mu, logvar) -> z -> decoder, the network inside :class:`InfoVAE`.

    ``forward`` returns ``(x_hat, z, mu, logvar)`` packed side by side in one tensor of
    width ``n_in + 3 * n_components`` (so that the training loop's batched prediction and
    validation work on it); :meth:`unpack` splits it. The losses are functions of that
    output only: nothing is stored on the module between calls.

    Parameters
    ----------
    n_in : int
    hidden_layer_sizes : sequence of int
        Encoder widths; the decoder mirrors them.
    n_components : int
        Latent dimension.
    stochastic : bool, default=False
        Sample ``z = mu + exp(logvar / 2) * noise`` in training mode (else ``z = mu``).

    Examples
    --------
    >>> net = VAENet(5, (4,), 2)
    >>> x_hat, z, mu, logvar = net.unpack(net(torch.zeros(3, 5)))
    >>> x_hat.shape, z.shape, logvar.shape
    (torch.Size([3, 5]), torch.Size([3, 2]), torch.Size([3, 2]))
    """

    def __init__(self, n_in: int, hidden_layer_sizes: Sequence[int], n_components: int,
                 stochastic: bool = False) -> None:
        super().__init__()
        sizes = [int(h) for h in hidden_layer_sizes]
        self.n_in, self.n_components, self.stochastic = int(n_in), int(n_components), stochastic
        self.encoder = _mlp([self.n_in, *sizes, 2 * self.n_components], nn.ELU)
        self.decoder = _mlp([self.n_components, *reversed(sizes), self.n_in], nn.ELU)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of ``x``, ``logvar`` clamped to [-10, 10]."""
        h = self.encoder(x)
        k = self.n_components
        return h[:, :k], h[:, k:].clamp(-10, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        mu, logvar = self.encode(x)
        z = mu
        if self.stochastic and self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.cat([self.decoder(z), z, mu, logvar], dim=1)

    def unpack(self, out: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Split a ``forward`` output into ``(x_hat, z, mu, logvar)``."""
        return tuple(torch.split(out, [self.n_in] + [self.n_components] * 3, dim=1))


class _ReconstructionLoss:
    """MSE between the reconstruction part of a :class:`VAENet` output and the target."""

    def __init__(self, n_in: int) -> None:
        self.n_in = n_in

    def __call__(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out[:, : self.n_in], target)


class _MMDTerm:
    name = "mmd"

    def __init__(self, weight: float, kernel: str, bandwidth: Any) -> None:
        self.weight, self.kernel, self.bandwidth = weight, kernel, bandwidth

    def __call__(self, state: TrainState) -> Any:
        _, z, _, _ = state.module.unpack(state.output)
        prior = torch.randn(z.shape, device=z.device, dtype=z.dtype)
        return self.weight * mmd(z, prior, kernel=self.kernel, bandwidth=self.bandwidth)


class _KLTerm:
    name = "kl"

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def __call__(self, state: TrainState) -> Any:
        _, _, mu, logvar = state.module.unpack(state.output)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
        return self.weight * kl


def _check_2d(X: Any, name: str = "X") -> NDArray:
    a = np.asarray(X.values if hasattr(X, "values") and hasattr(X, "dims") else X,
                   dtype=np.float32)
    if a.ndim != 2:
        raise SpikeDecodeValueError(f"{name} must be 2-D (n_samples, n_features); got shape "
                                    f"{a.shape}. Reshape your data with X.reshape(len(X), -1).")
    if len(a) == 0:
        raise SpikeDecodeValueError(f"{name} is empty.")
    if not np.isfinite(a).all():
        raise SpikeDecodeValueError(f"{name} holds NaN or inf values.")
    return a


class InfoVAE(TransformerMixin, BaseEstimator):
    """InfoVAE (MMD-VAE) mapping hidden activations to a low-dimensional code.

    Loss per batch: MSE reconstruction of the standardised inputs
    + ``mmd_weight`` · MMD(q(z), N(0, I)) + ``kl_weight`` · KL(q(z|x) ‖ N(0, I)).
    With ``kl_weight=0`` (default; Zhao et al.'s ``alpha = 1``) the encoder is
    deterministic. Trains with :func:`spikedecode.training.train`.

    Parameters
    ----------
    n_components : int, default=2
    hidden_layer_sizes : tuple of int, default=(256, 64)
        Encoder widths (the decoder mirrors them).
    mmd_weight : float, default=1.0
    kl_weight : float, default=0.0
    kernel : {"rbf", "imq"}, default="rbf"
    scales : tuple of float or None, default=(0.2, 1.0, 5.0, 25.0)
        MMD kernel bandwidths as multiples of ``n_components`` (summed, multi-scale).
        ``scales=None`` uses :func:`mmd`'s single default bandwidth ``n_components²`` (Zhao
        et al.'s code). A single narrow bandwidth lets a few classes drift far from the
        prior unpenalised — with ``h = n_components`` (= 2) the map then crowded the other
        classes near the origin; the wide scales keep the code on the N(0, I) scale.
    max_epochs : int, default=30
    batch_size : int, default=256
    lr : float, default=1e-3
    patience : int or None, default=5
        Early stopping on a 10 % validation split of X (None: no split, train all epochs).
    device : str or torch.device, default="auto"
        ``"auto"``: CUDA when available, else CPU
        (:func:`spikedecode.training.resolve_device`).
    random_state : int, Generator or None

    Attributes
    ----------
    module_ : VAENet
    mean_, scale_ : ndarray
        Per-feature standardisation.
    history_ : spikedecode.training.History
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(128, 6)).astype("float32")
    >>> vae = InfoVAE(max_epochs=2, hidden_layer_sizes=(8,), patience=None, random_state=0).fit(X)
    >>> vae.transform(X).shape, vae.inverse_transform(vae.transform(X)).shape
    ((128, 2), (128, 6))
    """

    def __init__(self, n_components: int = 2, *,
                 hidden_layer_sizes: tuple[int, ...] = (256, 64),
                 mmd_weight: float = 1.0, kl_weight: float = 0.0, kernel: str = "rbf",
                 scales: tuple[float, ...] | None = (0.2, 1.0, 5.0, 25.0), max_epochs: int = 30,
                 batch_size: int = 256, lr: float = 1e-3, patience: int | None = 5,
                 device: str = "auto",
                 random_state: RandomStateLike = None) -> None:
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.mmd_weight = mmd_weight
        self.kl_weight = kl_weight
        self.kernel = kernel
        self.scales = scales
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        check_params(self, {"n_components": Interval(Integral, 1, None),
                            "mmd_weight": Interval(Real, 0, None),
                            "kl_weight": Interval(Real, 0, None)})

    def fit(self, X: ArrayLike, y: Any = None) -> InfoVAE:
        """Fit the autoencoder on ``X`` (n_samples, n_units); return self."""
        self._check_params()
        a = _check_2d(X)
        self.n_features_in_ = a.shape[1]
        self.mean_ = a.mean(0)
        self.scale_ = a.std(0)
        self.scale_[self.scale_ < 1e-6] = 1.0
        s = torch.as_tensor((a - self.mean_) / self.scale_)
        rng = check_generator(self.random_state)
        seed = draw_seed(rng)
        val = None
        if self.patience is not None and len(s) >= 20:
            perm = torch.as_tensor(rng.permutation(len(s)))
            n_val = max(2, len(s) // 10)
            val = (s[perm[:n_val]], s[perm[:n_val]])
            s = s[perm[n_val:]]
        with torch_seeded(seed):
            self.module_ = VAENet(a.shape[1], tuple(self.hidden_layer_sizes),
                                  int(self.n_components), stochastic=self.kl_weight > 0)
        bw = None if not self.scales else [float(c) * int(self.n_components) for c in self.scales]
        terms: list[Any] = ([_MMDTerm(self.mmd_weight, self.kernel, bw)] if self.mmd_weight
                            else [])
        if self.kl_weight:
            terms.append(_KLTerm(self.kl_weight))
        self.history_ = train(self.module_, (s, s), val_data=val,
                              loss=_ReconstructionLoss(a.shape[1]), lr=self.lr,
                              max_epochs=int(self.max_epochs), batch_size=int(self.batch_size),
                              loss_terms=terms, patience=self.patience if val else None,
                              device=self.device, random_state=seed, drop_last=len(s) > 2 *
                              int(self.batch_size))
        return self

    def _std(self, X: ArrayLike) -> Any:
        check_is_fitted(self, "module_")
        a = _check_2d(X)
        if a.shape[1] != self.n_features_in_:
            raise SpikeDecodeValueError(
                f"X has {a.shape[1]} units, but InfoVAE is expecting {self.n_features_in_} "
                "units as input.")
        return torch.as_tensor((a - self.mean_) / self.scale_)

    def transform(self, X: ArrayLike) -> NDArray:
        """Latent code (the encoder mean) of ``X``: shape (n_samples, n_components)."""
        s = self._std(X)
        self.module_.eval()
        with torch.no_grad():
            mu, _ = self.module_.encode(s.to(model_device(self.module_)))
        return mu.cpu().numpy()

    def inverse_transform(self, Z: ArrayLike) -> NDArray:
        """Decoded activations (original scale) of latent points ``Z``."""
        check_is_fitted(self, "module_")
        z = torch.as_tensor(np.asarray(Z, dtype=np.float32).reshape(-1, int(self.n_components)))
        self.module_.eval()
        with torch.no_grad():
            h = self.module_.decoder(z.to(model_device(self.module_))).cpu().numpy()
        return h * self.scale_ + self.mean_

    def reconstruction_error(self, X: ArrayLike) -> float:
        """Mean squared reconstruction error of the standardised ``X``."""
        s = self._std(X).numpy()
        rec = (self.inverse_transform(self.transform(X)) - self.mean_) / self.scale_
        return float(((rec - s) ** 2).mean())


# ----------------------------------------------------------------------------- errors
def classifier_error(outputs: ArrayLike, y: ArrayLike, *, output: str = "logits",
                     floor: float = 1e-8) -> NDArray:
    """Per-sample error ``1/2 sum_k (p_k - onehot(y)_k)**2`` of a classifier, floored.

    The ``1/2`` is Pardo et al.'s definition (``e = 1/2 ||y - ŷ||²``), so ``e`` lies in
    ``[0, 1]`` for probability vectors.

    Parameters
    ----------
    outputs : array-like, shape (n, n_classes)
    y : array-like of int, shape (n,)
    output : {"logits", "sigmoid", "probs"}, default="logits"
        ``"logits"``: ``p = softmax(outputs)``; ``"sigmoid"``: ``p = sigmoid(outputs)``
        (Net1, whose ``forward`` returns pre-sigmoid scores of one-vs-rest units);
        ``"probs"``: the outputs already are probabilities and are used as they are.
    floor : float, default=1e-8

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> classifier_error([[1.0, 0.0], [0.0, 1.0]], [0, 0], output="probs").tolist()
    [1e-08, 1.0]
    """
    check_param(output, "output", Options("logits", "sigmoid", "probs"))
    o = np.asarray(outputs.cpu() if hasattr(outputs, "cpu") else outputs, dtype=np.float64)
    yy = np.asarray(y.cpu() if hasattr(y, "cpu") else y).astype(int).ravel()
    if o.ndim != 2 or len(o) != len(yy):
        raise SpikeDecodeValueError(f"outputs must be (n, n_classes) with n == len(y) == {len(yy)}; "
                                    f"got {o.shape}.")
    if output == "logits":
        o = o - o.max(1, keepdims=True)
        p = np.exp(o)
        p /= p.sum(1, keepdims=True)
    elif output == "sigmoid":
        p = 1.0 / (1.0 + np.exp(-o))
    else:  # "probs"
        p = o
    onehot = np.zeros_like(p)
    onehot[np.arange(len(yy)), yy] = 1.0
    return np.maximum(0.5 * ((p - onehot) ** 2).sum(1), floor)


def _half_squared_error(pred: Any, target: Any) -> Any:
    # Pardo et al.'s estimator loss 1/2 ||ê - e||², averaged over the batch
    return 0.5 * (pred - target).pow(2).sum(1).mean()


class ErrorEstimator(RegressorMixin, BaseEstimator):
    """Regressor from latent code z to the classifier's expected error ``ê(z)``.

    A small ELU MLP trained, as in Pardo et al., on the error ``e`` itself (see
    :func:`classifier_error`) with the loss ``1/2 (ê - e)**2`` through
    :func:`spikedecode.training.train`. ``predict(z)`` is then an estimate of the
    conditional mean ``E[e | z]``: where correct and misclassified samples mix, it is
    their average error, not a geometric mean (regressing ``log10 e`` would estimate
    ``E[log10 e | z]``, and ``10**`` of it underestimates the expected error by orders of
    magnitude there). The reported confidence is ``c = -log10 ê``, with ``ê`` clipped to
    ``floor`` first (the regression can return values <= 0).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64, 64)
    max_epochs : int, default=60
    batch_size : int, default=256
    lr : float, default=3e-3
    floor : float, default=1e-8
        Smallest ``ê`` used in :meth:`log10_error` and :meth:`confidence`.
    random_state : int, Generator or None

    Attributes
    ----------
    module_, history_, n_features_in_, z_mean_, z_scale_, t_mean_

    Examples
    --------
    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> e = 0.5 / (1 + np.exp(-2 * z[:, 0]))     # error rises along z1
    >>> est = ErrorEstimator(max_epochs=30, random_state=0).fit(z, e)
    >>> est.score(z, e) > 0.8
    True
    >>> bool(np.all(est.confidence(z) == -est.log10_error(z)))
    True
    """

    def __init__(self, *, hidden_layer_sizes: tuple[int, ...] = (64, 64), max_epochs: int = 60,
                 batch_size: int = 256, lr: float = 3e-3, floor: float = 1e-8,
                 random_state: RandomStateLike = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.floor = floor
        self.random_state = random_state

    def fit(self, z: ArrayLike, error: ArrayLike) -> ErrorEstimator:
        """Fit on latent points and the classifier's errors ``e >= 0`` there (not log10)."""
        a = _check_2d(z, "z")
        t = np.asarray(error, dtype=np.float32).reshape(-1, 1)
        if len(t) != len(a):
            raise SpikeDecodeValueError(f"error has {len(t)} values but z has {len(a)} rows.")
        if not np.all(np.isfinite(t)) or float(t.min(initial=0.0)) < 0:
            raise SpikeDecodeValueError(
                f"error must be finite and >= 0 (the classifier's error e, not log10 e); got "
                f"min {float(np.nanmin(t)):.3g}. Pass classifier_error(...) itself.")
        check_param(self.floor, "floor", Interval(Real, 0, None, closed="neither"))
        self.n_features_in_ = a.shape[1]
        self.z_mean_, self.z_scale_ = a.mean(0), a.std(0) + 1e-6
        self.t_mean_ = float(t.mean())
        seed = draw_seed(self.random_state)
        with torch_seeded(seed):
            self.module_ = _mlp([a.shape[1], *self.hidden_layer_sizes, 1], nn.ELU)
        x = torch.as_tensor((a - self.z_mean_) / self.z_scale_)
        self.history_ = train(self.module_, (x, torch.as_tensor(t - self.t_mean_)),
                              loss=_half_squared_error, lr=self.lr,
                              max_epochs=int(self.max_epochs),
                              batch_size=int(self.batch_size), device="cpu", random_state=seed)
        return self

    def predict(self, z: ArrayLike) -> NDArray:
        """Estimated expected error ``ê`` at ``z`` (not clipped; may dip below 0)."""
        check_is_fitted(self, "module_")
        a = _check_2d(z, "z")
        if a.shape[1] != self.n_features_in_:
            raise SpikeDecodeValueError(f"z has {a.shape[1]} dims, but ErrorEstimator is "
                                        f"expecting {self.n_features_in_}.")
        out = predict_logits(self.module_, (a - self.z_mean_) / self.z_scale_, device="cpu")
        return out.numpy().ravel().astype(np.float64) + self.t_mean_

    def log10_error(self, z: ArrayLike) -> NDArray:
        """``log10 max(ê, floor)`` at ``z`` (an anomaly score: higher = more suspicious)."""
        return np.log10(np.maximum(self.predict(z), float(self.floor)))

    def confidence(self, z: ArrayLike) -> NDArray:
        """Confidence ``c = -log10 max(ê, floor)``."""
        return -self.log10_error(z)


# ----------------------------------------------------------------------------- pipeline
class Introspector(BaseEstimator):
    """Record hidden state → InfoVAE map → error estimator, for one trained classifier.

    Parameters
    ----------
    layers : sequence of str, optional
        Hidden layers to concatenate; default :func:`hidden_layers`.
    output : {"logits", "sigmoid", "probs"}, default="logits"
        What the classifier returns (see :func:`classifier_error`); ``"sigmoid"`` for Net1.
    n_components : int, default=2
    vae_params, estimator_params : dict, optional
        Passed to :class:`InfoVAE` and :class:`ErrorEstimator`.
    random_state : int, Generator or None

    Attributes
    ----------
    vae_ : InfoVAE
    estimator_ : ErrorEstimator
    layers_ : list of str
    z_, y_, pred_ : ndarray
        Latent code, labels and predictions of the fitting data.
    error_, log10_error_ : ndarray
        The classifier's errors ``e`` (:func:`classifier_error`) on the fitting data, and
        their log10; the estimator is fitted on ``error_``.
    classes_ : ndarray
    centroids_, precisions_ : ndarray
        Per class, the mean and inverse covariance of z over correctly classified fitting
        samples (the class clusters).

    Notes
    -----
    Fit on data the classifier was *not* trained on (a validation split): on its own
    training data a good network makes almost no errors, and the error estimator would
    never see a misclassification.
    """

    def __init__(self, layers: Sequence[str] | None = None, *, output: str = "logits",
                 n_components: int = 2, vae_params: dict | None = None,
                 estimator_params: dict | None = None,
                 random_state: RandomStateLike = None) -> None:
        self.layers = layers
        self.output = output
        self.n_components = n_components
        self.vae_params = vae_params
        self.estimator_params = estimator_params
        self.random_state = random_state

    def fit(self, model: Any, X: ArrayLike, y: ArrayLike, *,
            extra_hidden: ArrayLike | None = None) -> Introspector:
        """Fit the map and the error estimator for ``model`` on ``(X, y)``.

        ``extra_hidden`` (n, n_units) adds activations (e.g. of noisy copies, or of earlier
        training epochs) to the InfoVAE's training set only.
        """
        if not isinstance(model, torch.nn.Module):
            raise SpikeDecodeTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
        check_param(self.output, "output", Options("logits", "sigmoid", "probs"))
        rng = check_generator(self.random_state)
        self.model_ = model
        self.layers_ = list(self.layers) if self.layers is not None else hidden_layers(model)
        yy = np.asarray(y.cpu() if hasattr(y, "cpu") else y).astype(int).ravel()
        h = record_hidden(model, X, self.layers_).values
        fit_h = h if extra_hidden is None else np.concatenate([h, np.asarray(extra_hidden)])
        self.vae_ = InfoVAE(self.n_components, **(self.vae_params or {}),
                            random_state=draw_seed(rng)).fit(fit_h)
        self.z_ = self.vae_.transform(h)
        outputs = predict_logits(model, as_float_tensor(X), device=model_device(model)).numpy()
        self.y_ = yy
        self.pred_ = outputs.argmax(1)
        self.error_ = classifier_error(outputs, yy, output=self.output)
        self.log10_error_ = np.log10(self.error_)
        self.estimator_ = ErrorEstimator(**(self.estimator_params or {}),
                                         random_state=draw_seed(rng)).fit(self.z_, self.error_)
        self.classes_ = np.unique(yy)
        cents, precs = [], []
        ok = self.pred_ == yy
        for c in self.classes_:
            zc = self.z_[(yy == c) & ok]
            if len(zc) < self.n_components + 2:
                zc = self.z_[yy == c]
            cents.append(zc.mean(0))
            k = self.n_components
            cov = np.cov(zc.T).reshape(k, k) + 1e-6 * np.eye(k)
            precs.append(np.linalg.inv(cov))
        self.centroids_ = np.stack(cents)
        self.precisions_ = np.stack(precs)
        return self

    def hidden(self, X: ArrayLike) -> NDArray:
        """Concatenated hidden activations of ``X``."""
        check_is_fitted(self, "vae_")
        return record_hidden(self.model_, X, self.layers_).values

    def transform(self, X: ArrayLike) -> NDArray:
        """Latent map coordinates of inputs ``X``: (n_samples, n_components)."""
        return self.vae_.transform(self.hidden(X))

    def predict_classes(self, X: ArrayLike) -> NDArray:
        """The classifier's predicted class of ``X``."""
        check_is_fitted(self, "vae_")
        return predict_logits(self.model_, as_float_tensor(X),
                              device=model_device(self.model_)).numpy().argmax(1)

    def error(self, X: ArrayLike) -> NDArray:
        """Estimated expected error ``ê`` of inputs ``X`` (see :class:`ErrorEstimator`)."""
        return self.estimator_.predict(self.transform(X))

    def log10_error(self, X: ArrayLike) -> NDArray:
        """``log10 ê`` of inputs ``X``, with ``ê`` clipped to the estimator's floor."""
        return self.estimator_.log10_error(self.transform(X))

    def confidence(self, X: ArrayLike) -> NDArray:
        """Confidence ``c = -log10 ê`` of inputs ``X`` (``ê`` clipped to the floor)."""
        return -self.log10_error(X)

    def cluster_distance(self, z: ArrayLike, classes: ArrayLike) -> NDArray:
        """Mahalanobis distance of latent points ``z`` to the cluster of ``classes``."""
        check_is_fitted(self, "vae_")
        z = np.asarray(z, dtype=np.float64).reshape(-1, self.n_components)
        idx = np.searchsorted(self.classes_, np.asarray(classes).ravel())
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        d = z - self.centroids_[idx]
        return np.sqrt(np.einsum("ni,nij,nj->n", d, self.precisions_[idx], d))

    def scores(self, X: ArrayLike) -> dict[str, NDArray]:
        """Anomaly scores of ``X``: ``log10_error`` and ``cluster_distance`` (higher = worse)."""
        z = self.transform(X)
        return {"log10_error": self.estimator_.log10_error(z),
                "cluster_distance": self.cluster_distance(z, self.predict_classes(X)),
                "z": z}


# ----------------------------------------------------------------------------- units
def expected_activation(introspector: Introspector, *, method: str = "centroid",
                        hidden: ArrayLike | None = None, grid: int = 48,
                        bandwidth: float | None = None) -> Any:
    """Expected activation of every hidden unit given the class.

    Parameters
    ----------
    introspector : fitted Introspector
        Its fitting data (``z_``, ``y_``) define the classes' latent clusters.
    method : {"centroid", "riemann", "direct"}, default="centroid"
        ``"centroid"``: the InfoVAE decoder at the class's mean z. ``"riemann"`` (the
        study's estimate): ``sum_g dec(z_g) p(z_g | c) Δz`` over a ``grid × grid`` lattice
        covering the map, with ``p(z | c)`` a Gaussian kernel density of the class's
        points. ``"direct"``: the mean recorded activation over the class's samples
        (needs ``hidden``; no decoder involved).
    hidden : array-like (n, n_units), optional
        The recorded activations of the fitting data, for ``method="direct"``.
    grid : int, default=48
    bandwidth : float, optional
        KDE bandwidth for ``"riemann"`` (default Scott's rule on the class's points).

    Returns
    -------
    xarray.DataArray
        Dims ``("class", "unit")``.
    """
    import xarray as xr

    check_param(method, "method", Options("centroid", "riemann", "direct"))
    check_is_fitted(introspector, "vae_")
    z, y, classes = introspector.z_, introspector.y_, introspector.classes_
    if method == "centroid":
        cent = np.stack([z[y == c].mean(0) for c in classes])
        e = introspector.vae_.inverse_transform(cent)
    elif method == "direct":
        if hidden is None:
            raise ConfigError("method='direct' needs hidden= the recorded activations of the "
                              "introspector's fitting data (Introspector.hidden(X)).")
        h = np.asarray(hidden)
        if len(h) != len(y):
            raise SpikeDecodeValueError(f"hidden has {len(h)} rows but the introspector was fit "
                                        f"on {len(y)} samples.")
        e = np.stack([h[y == c].mean(0) for c in classes])
    else:  # "riemann"
        if introspector.n_components != 2:
            raise ConfigError("method='riemann' integrates over a 2-D grid; use n_components=2 or "
                              "method='centroid'.")
        lo, hi = z.min(0) - 0.5, z.max(0) + 0.5
        g0, g1 = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
        zz = np.stack(np.meshgrid(g0, g1, indexing="ij"), -1).reshape(-1, 2)
        dec = introspector.vae_.inverse_transform(zz)
        cell = (g0[1] - g0[0]) * (g1[1] - g1[0])
        rows = []
        for c in classes:
            zc = z[y == c]
            bw = bandwidth or max(1e-3, float(zc.std()) * len(zc) ** (-1 / 6))
            d2 = ((zz[:, None, :] - zc[None, :, :]) ** 2).sum(-1)
            dens = np.exp(-d2 / (2 * bw**2)).mean(1) / (2 * math.pi * bw**2)
            w = dens * cell
            rows.append((w[:, None] * dec).sum(0) / max(w.sum(), 1e-12))
        e = np.stack(rows)
    return xr.DataArray(e, dims=("class", "unit"), coords={"class": classes},
                        name="expected_activation", attrs={"method": method})


def unit_selectivity(expected: Any) -> NDArray:
    """Per unit, ``(max - mean of the others) / (|max| + |mean of the others|)``, in [0, 1]-ish.

    Parameters
    ----------
    expected : array-like, shape (n_classes, n_units)
        Mean activation of each unit per class (:func:`expected_activation`).

    Returns
    -------
    numpy.ndarray, shape (n_units,)
        The selectivity of each unit: 0 when it responds alike to every class.

    Examples
    --------
    >>> unit_selectivity([[1.0, 2.0], [1.0, 0.0]]).round(3).tolist()
    [0.0, 1.0]
    """
    e = np.asarray(expected)
    top = e.max(0)
    rest = (e.sum(0) - top) / max(e.shape[0] - 1, 1)
    return (top - rest) / (np.abs(top) + np.abs(rest) + 1e-12)


def reorder_units(expected: Any, *, layer: ArrayLike | None = None) -> tuple[NDArray, NDArray]:
    """Assign each unit to the class with its largest expected activation and sort.

    Parameters
    ----------
    expected : array-like or DataArray (class, unit)
    layer : array-like of str, optional
        Per-unit layer names: units are then sorted within each layer (layers keep their
        order), as in the study's per-layer brainbow.

    Returns
    -------
    order : ndarray of int
        Permutation of the units: by (layer,) class, then by decreasing selectivity.
    unit_class : ndarray
        The class (label from ``expected``'s ``class`` coord when present) of every unit
        in the original order.

    Examples
    --------
    >>> order, cls = reorder_units([[0.0, 2.0, 1.0], [1.0, 0.0, 0.0]])
    >>> cls.tolist(), order.tolist()
    ([1, 0, 0], [1, 2, 0])
    """
    e = np.asarray(expected, dtype=np.float64)
    if e.ndim != 2:
        raise SpikeDecodeValueError(f"expected must be (class, unit); got shape {e.shape}.")
    labels = np.asarray(expected.coords["class"].values) if hasattr(expected, "coords") and \
        "class" in getattr(expected, "coords", {}) else np.arange(e.shape[0])
    arg = e.argmax(0)
    sel = unit_selectivity(e)
    lay = np.zeros(e.shape[1], dtype=int)
    if layer is not None:
        names = np.asarray(layer).astype(str)
        _, first = np.unique(names, return_index=True)
        rank = {n: r for r, n in enumerate(names[np.sort(first)])}
        lay = np.array([rank[n] for n in names])
    order = np.lexsort((-sel, arg, lay))
    return order, labels[arg]


# ----------------------------------------------------------------------------- dynamics
def constellation(introspector: Introspector, x: ArrayLike, *,
                  sigmas: Sequence[float] = (0.0, 0.1, 0.2, 0.3), n_copies: int = 200,
                  clip: tuple[float | None, float | None] = (0.0, 1.0),
                  random_state: RandomStateLike = None) -> Any:
    """Latent points of ``n_copies`` noisy copies of one input under increasing AWGN.

    Parameters
    ----------
    introspector : fitted Introspector
    x : array-like, one input (shape of a single sample, or a batch of one)
    sigmas : sequence of float
        Standard deviations of the additive white Gaussian noise.
    n_copies : int, default=200
    clip : (low, high), default=(0, 1)
        Input domain (images in [0, 1]; use ``(0, None)`` for counts).
    random_state : int, Generator or None

    Returns
    -------
    xarray.DataArray
        Dims ``("sigma", "copy", "latent")``; coords ``pred`` (sigma, copy) the
        classifier's prediction and ``log10_error`` (sigma, copy) ``log10 ê``, the
        estimated expected error (clipped to the estimator's floor).
    """
    import xarray as xr

    check_is_fitted(introspector, "vae_")
    xs = as_float_tensor(x)
    if xs.ndim >= 2 and xs.shape[0] == 1:
        xs = xs[0]
    gen = torch.Generator().manual_seed(draw_seed(random_state))
    zs, preds, errs = [], [], []
    for s in sigmas:
        if s < 0:
            raise ConfigError(f"sigmas holds {s!r}; noise standard deviations must be >= 0.")
        noisy = xs.unsqueeze(0) + float(s) * torch.randn((n_copies, *xs.shape), generator=gen)
        noisy = noisy.clamp(min=clip[0], max=clip[1])
        z = introspector.transform(noisy)
        zs.append(z)
        preds.append(introspector.predict_classes(noisy))
        errs.append(introspector.estimator_.log10_error(z))
    return xr.DataArray(np.stack(zs), dims=("sigma", "copy", "latent"),
                        coords={"sigma": list(map(float, sigmas)),
                                "pred": (("sigma", "copy"), np.stack(preds)),
                                "log10_error": (("sigma", "copy"), np.stack(errs))},
                        name="constellation")


def attack_trajectory(introspector: Introspector, x: ArrayLike, target: ArrayLike, *,
                      step_size: float = 0.01, n_steps: int = 100, every: int = 1,
                      output: str | None = None,
                      clip: tuple[float | None, float | None] = (0.0, 1.0)) -> Any:
    """Latent trajectory of a targeted iterative FGSM with an MSE loss (the study's attack).

    Runs :func:`spikedecode.robust.attacks.targeted_ifgsm_mse` on the introspector's
    ``model_`` (each step moves the input by ``step_size · sign(∇ MSE(p(x),
    onehot(target)))`` downhill and clips it to the domain) and records every ``every``-th
    iterate through its ``callback``.

    Parameters
    ----------
    introspector : fitted Introspector (its ``model_`` is attacked)
    x : array-like (n, ...)
        Inputs inside ``clip``.
    target : array-like of int (n,)
    step_size : float, default=0.01
    n_steps : int, default=100
    every : int, default=1
        Record every ``every`` steps (step 0, the clean input, and the last step are always
        recorded).
    output : {"logits", "sigmoid", "probs"}, optional
        Default the introspector's ``output``.
    clip : (low, high)

    Returns
    -------
    xarray.DataArray
        Dims ``("step", "sample", "latent")``; coords ``pred`` (step, sample) and
        ``log10_error`` (step, sample), ``log10 ê`` as in :func:`constellation`.
    """
    import xarray as xr

    from spikedecode.robust.attacks import targeted_ifgsm_mse

    check_is_fitted(introspector, "vae_")
    step_size = check_param(step_size, "step_size", Interval(Real, 0, None, closed="neither"))
    n_steps = check_param(n_steps, "n_steps", Interval(Integral, 1, None))
    xa = as_float_tensor(x)
    tgt = torch.as_tensor(np.asarray(target)).long().ravel()
    if len(tgt) != len(xa):
        raise SpikeDecodeValueError(f"target has {len(tgt)} labels but x has {len(xa)} inputs.")
    steps, zs, preds, errs = [], [], [], []

    def log(step: int, xx: Any) -> None:
        if step % every and step != n_steps:
            return
        xx = xx.cpu()
        z = introspector.transform(xx)
        steps.append(step)
        zs.append(z)
        preds.append(introspector.predict_classes(xx))
        errs.append(introspector.estimator_.log10_error(z))

    log(0, xa)
    targeted_ifgsm_mse(introspector.model_, xa, tgt, step_size=step_size, n_steps=n_steps,
                       clip=clip, output=output or introspector.output, callback=log)
    return xr.DataArray(np.stack(zs), dims=("step", "sample", "latent"),
                        coords={"step": steps, "pred": (("step", "sample"), np.stack(preds)),
                                "log10_error": (("step", "sample"), np.stack(errs)),
                                "target": ("sample", tgt.numpy())},
                        name="attack_trajectory",
                        attrs={"step_size": step_size, "n_steps": n_steps})


# ----------------------------------------------------------------------------- detection
def detection_auroc(scores: ArrayLike, is_positive: ArrayLike) -> float:
    """AUROC of ``scores`` (higher = more suspicious) for telling positives from negatives.

    Thin wrapper over :func:`sklearn.metrics.roc_auc_score` with a clear error when only
    one class is present.

    Parameters
    ----------
    scores : array-like
        Suspicion score of each sample.
    is_positive : array-like of bool
        True for the samples to detect (e.g. adversarial ones).

    Returns
    -------
    float
        The area under the ROC curve, 0.5 for chance.

    Examples
    --------
    >>> detection_auroc([0.1, 0.2, 0.9, 0.8], [0, 0, 1, 1])
    1.0
    """
    from sklearn.metrics import roc_auc_score

    s = np.asarray(scores, dtype=np.float64).ravel()
    t = np.asarray(is_positive).astype(bool).ravel()
    if s.shape != t.shape:
        raise SpikeDecodeValueError(f"scores has {s.size} values but is_positive has {t.size}.")
    if t.all() or not t.any():
        raise SpikeDecodeValueError(
            "is_positive holds only one class; AUROC needs both suspicious (True) and clean "
            "(False) samples.")
    return float(roc_auc_score(t, s))
