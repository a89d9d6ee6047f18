"""The 1/n spectral regularizer of Nassar et al. (2020), eigenspectra, whitening, Jacobian.

Stringer et al. (2019) found that the eigenspectrum of the covariance of mouse V1
responses to natural images decays as a power law, ``lambda_n ~ n**-alpha`` with
``alpha`` close to 1. Nassar et al. (NeurIPS 2020) imposed that spectrum on the hidden
layers of artificial networks with a penalty (their eq. 2) and found the networks more
robust to FGSM and PGD without adversarial training. This module makes that a loss term
of the one training loop (:func:`spikedecode.training.train`), so the same regularizer
applies to an image MLP or CNN, an MLP decoder's hidden layer or an LSTM's hidden state.

What is here
------------
:class:`SpectralRegularizer`
    The penalty of eq. (2) on chosen layers; eigenvectors refreshed once per epoch and
    held fixed, per-batch eigenvalue estimates ``diag(V^T Sigma_batch V)``.
:func:`spectral_penalty`
    Its functional twin for one layer's activations and a fixed basis.
:func:`layer_covariance`, :func:`eigenspectrum`, :func:`fit_power_law`, :func:`effective_dimension`
    Streaming covariance of a layer over a data set, its ordered eigenvalues as a
    DataArray, the power-law exponent with a confidence interval, the number of
    components holding 90 % of the variance.
:class:`Whitening` / :func:`whiten`
    The paper's control: ``x_tilde = R^-1 (x - mu)`` with ``R`` the Cholesky factor of the
    batch covariance (a flat spectrum), gradients through mean, covariance and Cholesky.
:class:`JacobianRegularizer` / :func:`jacobian_penalty`
    The baseline: the input-output Jacobian's squared Frobenius norm, estimated with random
    projections (Hoffman, Roberts & Yaida 2019).
:func:`sensitivity_map`
    ``d lambda_n / d x``: which input pixels move the n-th eigenvalue of a layer.

References
----------
.. [1] J. Nassar, P. A. Sokol, S. Chung, K. D. Harris, I. M. Park, "On 1/n neural
   representation and robustness", NeurIPS 2020.
.. [2] C. Stringer, M. Pachitariu, N. Steinmetz, M. Carandini, K. D. Harris,
   "High-dimensional geometry of population responses in visual cortex", Nature 2019.
.. [3] J. Hoffman, D. A. Roberts, S. Yaida, "Robust learning with Jacobian
   regularization", arXiv:1908.02729, 2019.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from spikedecode._random import RandomStateLike, draw_seed, torch_generator
from spikedecode.errors import (
    ConfigError,
    NotEnoughDataError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
    SpikeDecodeWarning,
)

__all__ = [
    "SmallBatchWarning",
    "SpectralRegularizer",
    "spectral_penalty",
    "layer_covariance",
    "eigenspectrum",
    "PowerLawFit",
    "fit_power_law",
    "effective_dimension",
    "Whitening",
    "whiten",
    "JacobianRegularizer",
    "jacobian_penalty",
    "sensitivity_map",
    "flatten_activation",
    "iter_activations",
]


class SmallBatchWarning(SpikeDecodeWarning):
    """The batch is smaller than the layer width: the batch covariance is rank-deficient.

    ``diag(V^T Sigma_batch V)`` then estimates the tail eigenvalues poorly (at most
    ``batch - 1`` of them can be non-zero); Nassar et al. used batches of 1.5 x width.
    """


# ----------------------------------------------------------------------------- helpers


def _check_positive(name: str, value: Any, *, integer: bool = False, minimum: float = 0.0,
                    strict: bool = True) -> None:
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(
        value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not ok_type:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name} == {value!r}, must be {kind}.")
    if (strict and not value > minimum) or (not strict and not value >= minimum):
        op = ">" if strict else ">="
        raise ConfigError(f"{name} == {value!r}, must be {op} {minimum}.")


def _resolve_layer(model: Any, layer: Any) -> Any:
    """A layer given by dotted name (``"hidden"``, ``"features.3"``) or as the module."""
    if isinstance(layer, torch.nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ConfigError(
                f"layer {type(layer).__name__} is not a submodule of {type(model).__name__}; "
                "pass one of its modules or a name from model.named_modules()."
            )
        return layer
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer) if layer else model
        except AttributeError as err:
            names = [n for n, _ in model.named_modules() if n][:20]
            raise ConfigError(
                f"layer == {layer!r} is not a submodule of {type(model).__name__}; "
                f"choose one of {names}."
            ) from err
    raise SpikeDecodeTypeError(
        f"layer must be a submodule name (str) or an nn.Module; got {type(layer).__name__}."
    )


def flatten_activation(module: Any, output: Any) -> Any:
    """The (batch, features) activation of a layer from its forward output.

    Recurrent layers (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``) give their last layer's final
    hidden state ``h_n`` (both directions concatenated when bidirectional); other tuple
    outputs give their first element; convolutional maps are flattened over all channels
    and positions.
    """
    if isinstance(module, (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN)):
        h = output[1][0] if isinstance(module, torch.nn.LSTM) else output[1]
        if module.bidirectional:
            out = torch.cat([h[-2], h[-1]], dim=-1)
        else:
            out = h[-1]
        return out
    if isinstance(output, (tuple, list)):
        output = output[0]
    return output.reshape(output.shape[0], -1)


def _as_inputs(data: Any) -> Any:
    """X as a float tensor from X, an (X, y) pair, or an object with ``.train``."""
    if hasattr(data, "train") and isinstance(data.train, (tuple, list)):
        data = data.train
    if isinstance(data, (tuple, list)) and len(data) == 2:
        data = data[0]
    x = data if torch.is_tensor(data) else torch.as_tensor(np.asarray(data))
    if not x.is_floating_point():
        x = x.float()
    if x.ndim < 1 or len(x) == 0:
        raise NotEnoughDataError(f"data holds {len(x) if x.ndim else 0} samples; need >= 2.")
    return x


class _StopForward(Exception):
    """Raised by a capture hook once every wanted layer has run (skips the rest)."""


def _model_device(model: Any) -> Any:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def iter_activations(model: Any, X: Any, layers: Sequence[Any], *, batch_size: int = 4096):
    """Yield, batch by batch, the flattened activations of ``layers`` (eval mode, no grad).

    The forward pass stops once the last wanted layer has run.
    """
    mods = [_resolve_layer(model, layer) for layer in layers]
    store: dict[int, Any] = {}

    def make_hook(i: int, mod: Any) -> Callable:
        def hook(_m: Any, _inp: Any, out: Any) -> None:
            store[i] = flatten_activation(mod, out)
            if len(store) == len(mods):
                raise _StopForward
        return hook

    handles = [m.register_forward_hook(make_hook(i, m)) for i, m in enumerate(mods)]
    was_training = model.training
    dev = _model_device(model)
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                store.clear()
                try:
                    model(X[i : i + batch_size].to(dev))
                except _StopForward:
                    pass
                if len(store) != len(mods):
                    raise ConfigError("a chosen layer did not run in the forward pass of "
                                      f"{type(model).__name__}; check `layers`.")
                yield [store[k] for k in range(len(mods))]
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


def _gram(ac: Any) -> Any:
    """``ac.T @ ac``; on CPU through BLAS ``syrk`` (one triangle: half the flops of gemm)."""
    if ac.device.type != "cpu" or ac.dtype not in (torch.float32, torch.float64) \
            or ac.requires_grad:
        return ac.T @ ac
    try:
        from scipy.linalg import blas
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scipy and threadpoolctl come with sklearn
        return ac.T @ ac
    arr = ac.contiguous().numpy()
    syrk = blas.ssyrk if ac.dtype == torch.float32 else blas.dsyrk
    with threadpool_limits(limits=torch.get_num_threads(), user_api="blas"):
        # arr.T is Fortran-contiguous (no copy): C = arr.T @ arr, upper triangle filled
        upper = torch.from_numpy(syrk(1.0, arr.T, trans=0, lower=0))
    return torch.triu(upper) + torch.triu(upper, 1).T


class _CovAccumulator:
    """Streaming mean and covariance (Chan et al. pairwise merge), O(N^2) memory.

    Each batch is centred on its own mean and multiplied in the activations' dtype (fast
    float32 BLAS); the merge with the running moments is in float64.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean = None
        self.m2 = None

    def update(self, a: Any) -> None:
        nb = a.shape[0]
        mb = a.mean(0)
        ac = a - mb
        cb = _gram(ac).to(torch.float64)
        mb = mb.to(torch.float64)
        if self.n == 0:
            self.mean, self.m2, self.n = mb, cb, nb
            return
        n = self.n + nb
        delta = mb - self.mean
        self.m2 += cb
        self.m2 += torch.outer(delta, delta) * (self.n * nb / n)
        self.mean += delta * (nb / n)
        self.n = n

    def covariance(self) -> Any:
        if self.n < 2:
            raise NotEnoughDataError(f"the covariance needs >= 2 samples; got {self.n}.")
        c = self.m2 / (self.n - 1)
        return (c + c.T) / 2


def layer_covariance(model: Any, data: Any, layers: Any, *, batch_size: int = 4096) -> Any:
    """Covariance of one or more layers' activations over a data set, streamed.

    Parameters
    ----------
    model : torch.nn.Module
    data : array, tensor, (X, y) pair, or an object with a ``.train`` pair
        Inputs fed through ``model`` in eval mode.
    layers : str, nn.Module or a sequence of them
        Layers whose flattened outputs are used (see :func:`flatten_activation`).
    batch_size : int, default=4096

    Returns
    -------
    (mean, cov) or a list of such pairs
        float64 tensors; ``cov`` is unbiased (divides by ``n - 1``). A list when
        ``layers`` is a sequence.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    >>> mean, cov = layer_covariance(net, torch.randn(50, 4), "1")
    >>> tuple(cov.shape)
    (3, 3)
    """
    single = isinstance(layers, str) or not isinstance(layers, Sequence)
    layer_list = [layers] if single else list(layers)
    X = _as_inputs(data)
    accs = [_CovAccumulator() for _ in layer_list]
    for acts in iter_activations(model, X, layer_list, batch_size=batch_size):
        for acc, a in zip(accs, acts):
            acc.update(a)
    res = [(acc.mean, acc.covariance()) for acc in accs]
    return res[0] if single else res


def _eigh_descending(cov: Any, dtype: Any = None) -> tuple[Any, Any]:
    c = cov if dtype is None else cov.to(dtype)
    evals, evecs = torch.linalg.eigh(c)
    return evals.flip(0), evecs.flip(1)


# ---------------------------------------------------------------------- the penalty


def spectral_penalty(activations: Any, V: Any, *, alpha: float = 1.0, tau: int = 10,
                     directions: Any = None, kappa: Any = None, detach_kappa: bool = True,
                     return_eigs: bool = False, n_max: int | None = None) -> Any:
    """Eq. (2) of Nassar et al. for one layer, with a fixed eigenbasis ``V``.

    ``(1/N) * sum_{n >= tau} [(lam_n / gamma_n - 1)**2 + max(0, lam_n / gamma_n - 1)]``
    with ``lam_n = v_n^T Sigma_batch v_n`` (``Sigma_batch`` the unbiased covariance of
    ``activations``), ``gamma_n = kappa * n**-alpha`` and ``kappa = lam_tau * tau**alpha``
    (so ``gamma_tau = lam_tau``); ``n`` counts from 1 in the column order of ``V``.
    With that anchored ``kappa`` the ``n = tau`` hinge argument is exactly 0, the kink of
    ``max(0, .)``; its gradient follows torch's ``relu'(0) = 0``, so that term adds nothing.

    The estimates are computed without a loop and without forming ``Sigma_batch``:
    ``lam = sum_rows((A_c V)**2) / (B - 1)`` with ``A_c`` the centred activations.

    Parameters
    ----------
    activations : Tensor (B, N)
    V : Tensor (N, N)
        Eigenvectors as columns, in decreasing order of the eigenvalues they were fitted
        with. Used as a constant (no gradient flows through it).
    alpha : float, default=1.0
        Target exponent.
    tau : int, default=10
        First (1-based) index penalized; also the anchor of ``kappa``.
    directions : 1-D integer tensor, optional
        0-based indices (all ``>= tau``, i.e. 1-based ``n > tau``) of a random subset of
        eigen-directions. The sum over them is scaled by ``(N - tau) / len(directions)``
        (the ``n = tau`` term is always added exactly) to give an unbiased estimate of the
        full sum. ``None`` (default) computes every direction exactly.
    kappa : float or Tensor, optional
        Fix the target's scale instead of anchoring it to this batch's ``lam_tau``.
    detach_kappa : bool, default=True
        Treat ``kappa`` as a constant in the gradient, as the reference implementation
        does (``torch.no_grad`` around it): only the tail is pulled towards the line.
    return_eigs : bool, default=False
        Also return the estimated eigenvalues (of ``directions`` when given).
    n_max : int, optional
        Last (1-based, inclusive) index penalized: the sum runs over ``tau <= n <= n_max``
        (still divided by ``N``). Default ``N`` (eq. 2). Use it when the layer cannot carry
        ``N`` non-degenerate dimensions, e.g. a layer wider than the rank of its input
        (see docs/robust_spectral.md, "Fit and penalty range"); ``directions`` must then
        lie in ``[tau, n_max - 1]`` and the subsampled sum is scaled by
        ``(n_max - tau) / len(directions)``.

    Returns
    -------
    Tensor (scalar), or (Tensor, Tensor) with ``return_eigs``.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> a = torch.randn(200, 30, generator=g, dtype=torch.float64) * torch.arange(1, 31) ** -0.5
    >>> cov = torch.cov(a.T)
    >>> evals, V = torch.linalg.eigh(cov)
    >>> pen, lam = spectral_penalty(a, V.flip(1), tau=5, return_eigs=True)
    >>> bool(torch.allclose(lam, evals.flip(0)))
    True
    """
    B, N = activations.shape
    if B < 2:
        raise NotEnoughDataError(f"the batch holds {B} sample(s); the covariance needs >= 2.")
    if not 1 <= tau <= N:
        raise ConfigError(f"tau == {tau}, must be in [1, {N}] for a layer of width {N}.")
    if n_max is None:
        n_max = N
    if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) \
            or not tau <= n_max <= N:
        raise ConfigError(f"n_max == {n_max!r}, must be an integer in [tau={tau}, N={N}].")
    n_max = int(n_max)
    V = V.to(dtype=activations.dtype, device=activations.device).detach()
    ac = activations - activations.mean(0, keepdim=True)
    if directions is None:
        lam = (ac @ V[:, :n_max]).pow(2).sum(0) / (B - 1)
        lam_tau = lam[tau - 1]
        tail = lam[tau - 1 :]
        n = torch.arange(tau, n_max + 1, dtype=activations.dtype, device=activations.device)
        scale = 1.0
        eigs = lam
    else:
        directions = torch.as_tensor(directions, device=activations.device).long()
        if directions.numel() == 0 or int(directions.min()) < tau \
                or int(directions.max()) >= n_max:
            raise ConfigError(f"directions must be non-empty 0-based indices in [{tau}, "
                              f"{n_max - 1}].")
        cols = torch.cat([torch.tensor([tau - 1], device=directions.device), directions])
        lam = (ac @ V[:, cols]).pow(2).sum(0) / (B - 1)
        lam_tau = lam[0]
        tail = lam
        n = torch.cat([torch.tensor([float(tau)], device=directions.device),
                       (directions + 1).to(torch.float64)]).to(activations.dtype)
        # the n = tau term is always computed (exactly zero when kappa is anchored to this
        # batch); the sampled n > tau terms stand for all N - tau of them
        scale = torch.full_like(n, (n_max - tau) / directions.numel())
        scale[0] = 1.0
        eigs = lam[1:]
    n_pow = n.pow(alpha)  # n_pow[0] is tau**alpha in both branches
    if kappa is None:
        # the same product as ``tail[0] * n_pow[0]`` below, so the n = tau ratio is exactly
        # 0 (x / x == 1 in IEEE arithmetic): its hinge sits on the kink of max(0, .), where
        # the gradient follows torch's relu'(0) = 0 convention and the term contributes
        # nothing (the squared part's gradient 2 * 0 is 0 as well)
        kappa = lam_tau * n_pow[0]
        if detach_kappa:
            kappa = kappa.detach()
    kappa = torch.as_tensor(kappa, dtype=activations.dtype, device=activations.device)
    kappa = kappa.clamp_min(torch.finfo(activations.dtype).tiny)
    ratio = tail * n_pow / kappa - 1.0
    pen = (scale * (ratio.pow(2) + torch.relu(ratio))).sum() / N
    return (pen, eigs) if return_eigs else pen


class SpectralRegularizer:
    """The 1/n spectral penalty of Nassar et al. (2020) as a loss term of ``train()``.

    For each chosen layer ``l`` of width ``N_l`` it adds::

        beta_l / N_l * sum_{n >= tau} [(lam_n / gamma_n - 1)**2 + max(0, lam_n / gamma_n - 1)]

    with ``gamma_n = kappa n**-alpha_l`` and ``kappa`` such that ``gamma_tau = lam_tau``
    (see :func:`spectral_penalty`).

    **Eigenbasis.** The eigenvectors ``V_l`` of the layer's covariance are computed once
    per epoch (``on_epoch_begin``, every ``refresh_every`` epochs) and then held fixed:

    * with ``X`` given (or after a :meth:`fit_basis` call with it), by streaming the
      covariance over those training inputs in eval mode (O(N^2) memory, the rest of the
      network after the last chosen layer is skipped) and one ``eigh`` per layer;
    * with ``X=None``, from the covariance of the first training batch of the epoch
      (cheap; use batches of >= 1.5 x width). This is how to use it when the training
      inputs are not at hand, e.g. inside a ``TorchClassifier(loss_terms=[...])``.

    **Per batch**, ``lam_hat = diag(V^T Sigma_batch V)`` is computed loop-free as
    ``colsum((A_c V)**2) / (B - 1)``; gradients flow through the batch activations only,
    not through ``V``. Convolutional feature maps are flattened over all channels and
    positions, recurrent layers give their final hidden state (:func:`flatten_activation`).

    **Speed.** The exact estimate costs two (B x N x N) matrix products per layer and step
    (forward and backward), about 3x a plain step of the 2,000-unit shallow net. With
    ``n_directions=m`` each step draws ``m`` of the ``N - tau`` tail directions uniformly
    without replacement and rescales their sum by ``(N - tau) / m``: an unbiased
    estimate of the exact penalty (and of its gradient) for the batch, at ``m / N`` of the
    cost. ``n_directions=None`` keeps the exact mode.

    Parameters
    ----------
    layers : str, nn.Module, or a sequence of them
        Layers to regularize, by dotted name in ``model.named_modules()`` or as modules.
    alpha : float or sequence of float, default=1.0
        Target exponent, one per layer allowed (e.g. decreasing with depth).
    tau : int, default=10
        First penalized (1-based) eigenvalue index.
    beta : float or sequence of float, default=1.0
        Weight of the penalty, one per layer allowed.
    X : array or tensor, optional
        Training inputs used to refresh the eigenbasis each epoch (see above). When
        omitted inside :func:`spikedecode.training.train`, the loop's own training set
        (``state.train_data``) is used; outside it, each epoch's first batch.
    n_directions : int, optional
        Subsample this many eigen-directions per step (see "Speed"); None = exact.
    refresh_every : int, default=1
        Refresh the basis every this many epochs (a cheaper schedule).
    batch_size : int, default=4096
        Batch size of the forward passes of the basis refresh.
    basis_dtype : torch.dtype, optional
        dtype of the ``eigh`` (default float64; float32 is ~2x faster and fine when only
        the ordering of the leading directions matters).
    detach_kappa : bool, default=True
        See :func:`spectral_penalty`.
    random_state : int, Generator or None
        Seeds the direction subsampling.
    name : str, default="spectral"
        Key of the per-epoch mean penalty in the training logs (``term/spectral``).
    n_max : int, optional
        Penalize only ``tau <= n <= n_max`` (clipped to each layer's width); default every
        ``n >= tau`` as in eq. (2). For a layer wider than the rank of its input (the
        2,000-unit net on 784-pixel MNIST, whose pixel covariance has ~660 non-zero
        eigenvalues) the far tail cannot follow ``1/n``; see :func:`spectral_penalty`.

    Attributes
    ----------
    bases_ : list of Tensor
        The current eigenvectors of each layer (columns, decreasing eigenvalue).
    eigenvalues_ : list of Tensor
        The eigenvalues they were fitted with (float64).
    last_eigs_ : list of Tensor
        The per-batch estimates ``lam_hat`` of the last step (detached).

    Warns
    -----
    SmallBatchWarning
        Once per training run and layer, when a batch has fewer samples than the width.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from spikedecode.training import train
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(256, 8, generator=g); y = (x[:, 0] > 0).long()
    >>> net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))
    >>> reg = SpectralRegularizer("1", tau=2, beta=1.0, X=x)
    >>> hist = train(net, (x, y), loss_terms=[reg], max_epochs=2, batch_size=64,
    ...              random_state=0)
    >>> "term/spectral" in hist.epochs[0]
    True
    """

    def __init__(self, layers: Any, alpha: float | Sequence[float] = 1.0, tau: int = 10,
                 beta: float | Sequence[float] = 1.0, *, X: Any = None,
                 n_directions: int | None = None, refresh_every: int = 1,
                 batch_size: int = 4096, basis_dtype: Any = None, detach_kappa: bool = True,
                 random_state: RandomStateLike = None, name: str = "spectral",
                 n_max: int | None = None) -> None:
        self.layers = layers
        self.alpha = alpha
        self.tau = tau
        self.beta = beta
        self.X = X
        self.n_directions = n_directions
        self.refresh_every = refresh_every
        self.batch_size = batch_size
        self.basis_dtype = basis_dtype
        self.detach_kappa = detach_kappa
        self.random_state = random_state
        self.name = name
        self.n_max = n_max
        self.bases_: list[Any] = []
        self.eigenvalues_: list[Any] = []
        self.last_eigs_: list[Any] = []
        self._handles: list[Any] = []
        self._acts: dict[int, Any] = {}
        self._mods: list[Any] = []
        self._warned: set[int] = set()
        self._refresh_from_batch = False
        self._gen = None

    # -- configuration -------------------------------------------------------------
    def _layer_list(self) -> list[Any]:
        if isinstance(self.layers, (str,)) or not isinstance(self.layers, Sequence):
            return [self.layers]
        if len(self.layers) == 0:
            raise ConfigError("layers == [], name at least one layer to regularize.")
        return list(self.layers)

    def _per_layer(self, name: str, value: Any, n: int) -> list[float]:
        vals = list(value) if isinstance(value, Sequence) and not isinstance(value, str) \
            else [value] * n
        if len(vals) != n:
            raise ConfigError(f"{name} has {len(vals)} values for {n} layers; give one per "
                              "layer or a single number.")
        for v in vals:
            _check_positive(name, v, strict=False, minimum=0.0)
        return [float(v) for v in vals]

    def _check_params(self) -> None:
        n = len(self._layer_list())
        self._alphas = self._per_layer("alpha", self.alpha, n)
        self._betas = self._per_layer("beta", self.beta, n)
        _check_positive("tau", self.tau, integer=True, minimum=1, strict=False)
        _check_positive("refresh_every", self.refresh_every, integer=True, minimum=1,
                        strict=False)
        _check_positive("batch_size", self.batch_size, integer=True, minimum=1, strict=False)
        if self.n_directions is not None:
            _check_positive("n_directions", self.n_directions, integer=True, minimum=1,
                            strict=False)
        if self.n_max is not None:
            _check_positive("n_max", self.n_max, integer=True, minimum=int(self.tau),
                            strict=False)

    # -- basis ---------------------------------------------------------------------
    def fit_basis(self, module: Any, X: Any) -> SpectralRegularizer:
        """Compute the eigenbasis of every chosen layer over inputs ``X`` (eval mode).

        Streams the covariance batch by batch (O(N^2) memory), then one ``eigh`` per
        layer. Called by ``on_epoch_begin`` when ``X`` was given to the constructor.

        Returns
        -------
        self
        """
        self._check_params()
        covs = layer_covariance(module, X, self._layer_list(), batch_size=int(self.batch_size))
        dtype = self.basis_dtype or torch.float64
        self.bases_, self.eigenvalues_ = [], []
        for _mean, cov in covs:
            evals, evecs = _eigh_descending(cov, dtype)
            self.bases_.append(evecs.to(torch.float32))
            self.eigenvalues_.append(evals.to(torch.float64))
        return self

    def _fit_basis_from_batch(self) -> None:
        self.bases_, self.eigenvalues_ = [], []
        for i in range(len(self._mods)):
            a = self._acts[i].detach()
            cov = torch.cov(a.T.to(torch.float64))
            cov = cov.reshape(1, 1) if cov.ndim == 0 else cov
            evals, evecs = _eigh_descending(cov, self.basis_dtype or torch.float64)
            self.bases_.append(evecs.to(a.dtype))
            self.eigenvalues_.append(evals.to(torch.float64))

    # -- training-loop protocol ----------------------------------------------------
    def attach(self, module: Any) -> None:
        """Register forward hooks that capture the chosen layers' training activations."""
        self._check_params()
        self.detach()
        self._mods = [_resolve_layer(module, layer) for layer in self._layer_list()]
        self._warned = set()
        self._gen = torch_generator(draw_seed(self.random_state))

        def make_hook(i: int, mod: Any) -> Callable:
            def hook(_m: Any, _inp: Any, out: Any) -> None:
                if torch.is_grad_enabled() and mod.training:
                    self._acts[i] = flatten_activation(mod, out)
            return hook

        self._handles = [m.register_forward_hook(make_hook(i, m))
                         for i, m in enumerate(self._mods)]

    def detach(self) -> None:
        """Remove the hooks and drop captured activations."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._acts = {}

    def on_epoch_begin(self, state: Any) -> None:
        """Refresh the eigenbasis (every ``refresh_every`` epochs)."""
        if state.epoch % int(self.refresh_every) != 0 and self.bases_:
            return
        data = self.X
        if data is None and getattr(state, "train_data", None) is not None:
            # the training loop hands over its training set: the paper's per-epoch basis
            data = state.train_data[0]
        if data is not None:
            self.fit_basis(state.module, data)
            self._refresh_from_batch = False
        else:
            self._refresh_from_batch = True

    def __call__(self, state: Any) -> Any:
        """The penalty for the current batch (sum over layers)."""
        if not self._handles:
            raise ConfigError("SpectralRegularizer was called before attach(module); pass it "
                              "in train(loss_terms=[...]) so that its hooks are registered.")
        missing = [i for i in range(len(self._mods)) if i not in self._acts]
        if missing:
            raise ConfigError(
                f"layers {[self._layer_list()[i] for i in missing]!r} produced no output in "
                "this forward pass; check that they are used by the model's forward()."
            )
        if self._refresh_from_batch or not self.bases_:
            self._fit_basis_from_batch()
            self._refresh_from_batch = False
        total = None
        self.last_eigs_ = []
        for i in range(len(self._mods)):
            a = self._acts[i]
            B, N = a.shape
            if B < N and i not in self._warned:
                self._warned.add(i)
                warnings.warn(
                    f"batch of {B} samples is smaller than the width {N} of layer "
                    f"{self._layer_list()[i]!r}: the tail of its spectrum cannot be estimated "
                    f"(at most {B - 1} non-zero eigenvalues). Use batch_size >= {int(1.5 * N)}.",
                    SmallBatchWarning, stacklevel=2,
                )
            V = self.bases_[i]
            if V.shape[0] != N:
                raise ConfigError(f"the basis of layer {self._layer_list()[i]!r} has size "
                                  f"{V.shape[0]} but the layer has width {N}; refit the basis.")
            tau = min(int(self.tau), N)
            n_max = N if self.n_max is None else max(min(int(self.n_max), N), tau)
            dirs = None
            m = self.n_directions
            if m is not None and m < n_max - tau:
                dirs = tau + torch.randperm(n_max - tau, generator=self._gen)[:m]
                dirs = dirs.to(a.device)
            pen, eigs = spectral_penalty(a, V, alpha=self._alphas[i], tau=tau, directions=dirs,
                                         detach_kappa=self.detach_kappa, return_eigs=True,
                                         n_max=n_max)
            self.last_eigs_.append(eigs.detach())
            pen = self._betas[i] * pen
            total = pen if total is None else total + pen
        self._acts = {}
        return total

    def __repr__(self) -> str:
        return (f"SpectralRegularizer(layers={self.layers!r}, alpha={self.alpha!r}, "
                f"tau={self.tau!r}, beta={self.beta!r}, n_directions={self.n_directions!r}, "
                f"n_max={self.n_max!r})")


# --------------------------------------------------------------------- spectra


def eigenspectrum(model: Any, data: Any, layer: Any, *, batch_size: int = 4096) -> Any:
    """Ordered eigenvalues of the covariance of ``layer``'s activations over ``data``.

    Parameters
    ----------
    model : torch.nn.Module
    data : array, tensor, (X, y) pair, or an object with a ``.train`` pair
        Inputs (eval mode, no gradient).
    layer : str or nn.Module
        Dotted name in ``model.named_modules()`` or the module itself.
    batch_size : int, default=4096

    Returns
    -------
    xarray.DataArray
        dims ``("component",)`` with ``component = 1 .. N``, eigenvalues in decreasing
        order (float64); attrs ``layer``, ``n_samples``, ``width``, ``effective_dimension``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(5, 4), nn.ReLU())
    >>> spec = eigenspectrum(net, torch.randn(100, 5), "0")
    >>> spec.dims, int(spec.sizes["component"])
    (('component',), 4)
    """
    import xarray as xr

    X = _as_inputs(data)
    _mean, cov = layer_covariance(model, X, layer, batch_size=batch_size)
    evals = torch.linalg.eigvalsh(cov).flip(0).cpu().numpy()
    name = layer if isinstance(layer, str) else type(layer).__name__
    da = xr.DataArray(
        evals, dims=("component",),
        coords={"component": np.arange(1, len(evals) + 1)},
        name="eigenvalue",
        attrs={"layer": name, "n_samples": int(len(X)), "width": int(len(evals))},
    )
    da.attrs["effective_dimension"] = effective_dimension(da)
    return da


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted power law ``lambda_n = 10**intercept * n**-alpha``.

    Attributes
    ----------
    alpha : float
        The exponent (positive for a decaying spectrum).
    ci : (float, float)
        Confidence interval of ``alpha`` (t interval of the least-squares slope over
        log-spaced indices; residuals of a spectrum are correlated, so read it as a lower
        bound on the uncertainty).
    intercept : float
        log10 of the prefactor.
    n_min, n_max : int
        Fitted (1-based, inclusive) index range.
    r2 : float
        Coefficient of determination in log-log space.
    level : float
        Confidence level of ``ci``.
    """

    alpha: float
    ci: tuple[float, float]
    intercept: float
    n_min: int
    n_max: int
    r2: float
    level: float = 0.95

    def predict(self, n: Any) -> np.ndarray:
        """The fitted line at (1-based) indices ``n``."""
        return 10.0 ** self.intercept * np.asarray(n, dtype=float) ** -self.alpha

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"alpha": self.alpha, "ci": list(self.ci), "intercept": self.intercept,
                "n_min": self.n_min, "n_max": self.n_max, "r2": self.r2, "level": self.level}


def fit_power_law(eigs: Any, n_min: int = 10, n_max: int | None = None, *,
                  level: float = 0.95, n_points: int = 200) -> PowerLawFit:
    """Fit ``lambda_n ~ n**-alpha`` by least squares in log-log space.

    The fit uses up to ``n_points`` log-spaced indices of ``[n_min, n_max]`` so that every
    decade weighs the same (a fit on all indices is dominated by the long tail).

    Parameters
    ----------
    eigs : array-like or DataArray
        Eigenvalues in decreasing order (index 0 is ``n = 1``).
    n_min : int, default=10
        First (1-based) index of the fit (the regularizer's ``tau``).
    n_max : int, optional
        Last (1-based, inclusive) index; default the last eigenvalue above
        ``1e-12 * lambda_1`` (numerical zeros are excluded).
    level : float, default=0.95
        Confidence level of the interval.
    n_points : int, default=200
        Maximum number of log-spaced indices used.

    Returns
    -------
    PowerLawFit

    Examples
    --------
    >>> n = np.arange(1, 1001)
    >>> fit = fit_power_law(3.0 * n ** -1.2, n_min=10)
    >>> round(fit.alpha, 6), round(fit.r2, 6)
    (1.2, 1.0)
    """
    from scipy import stats

    lam = np.asarray(getattr(eigs, "values", eigs), dtype=float).ravel()
    if lam.size < 3:
        raise NotEnoughDataError(f"eigs holds {lam.size} values; a power-law fit needs >= 3.")
    _check_positive("n_min", n_min, integer=True, minimum=1, strict=False)
    if not 0 < level < 1:
        raise ConfigError(f"level == {level!r}, must be in (0, 1).")
    positive = np.nonzero(lam > max(lam[0], 0) * 1e-12)[0]
    last = int(positive[-1]) + 1 if positive.size else 0
    if n_max is None:
        n_max = last
    n_max = min(int(n_max), last)
    if n_max - n_min + 1 < 3:
        raise NotEnoughDataError(
            f"only {max(n_max - n_min + 1, 0)} positive eigenvalues in [n_min={n_min}, "
            f"n_max={n_max}]; a fit needs >= 3. Lower n_min or use more samples."
        )
    idx = np.unique(np.round(np.geomspace(n_min, n_max, num=min(n_points, n_max - n_min + 1)))
                    .astype(int))
    idx = idx[lam[idx - 1] > 0]
    x = np.log10(idx)
    yv = np.log10(lam[idx - 1])
    res = stats.linregress(x, yv)
    dof = len(x) - 2
    half = (stats.t.ppf(0.5 + level / 2, dof) * res.stderr) if dof > 0 else math.inf
    alpha = -float(res.slope)
    return PowerLawFit(alpha=alpha, ci=(alpha - float(half), alpha + float(half)),
                       intercept=float(res.intercept), n_min=int(n_min), n_max=int(n_max),
                       r2=float(res.rvalue ** 2), level=float(level))


def effective_dimension(eigs: Any, threshold: float = 0.9) -> int:
    """Number of leading components that hold ``threshold`` of the variance.

    Examples
    --------
    >>> effective_dimension([5.0, 3.0, 1.0, 1.0])
    3
    """
    lam = np.clip(np.asarray(getattr(eigs, "values", eigs), dtype=float).ravel(), 0, None)
    if lam.size == 0 or lam.sum() <= 0:
        raise NotEnoughDataError("eigs holds no positive variance.")
    if not 0 < threshold <= 1:
        raise ConfigError(f"threshold == {threshold!r}, must be in (0, 1].")
    lam = np.sort(lam)[::-1]
    frac = np.cumsum(lam) / lam.sum()
    return int(min(np.searchsorted(frac, threshold - 1e-12) + 1, lam.size))


# ------------------------------------------------------------------ whitening


def whiten(x: Any, eps: float = 1e-5) -> Any:
    """``R^-1 (x - mu)`` with ``R`` the lower Cholesky factor of the batch covariance.

    Gradients flow through the mean, the covariance and the Cholesky factorization.
    Inputs of more than two dims are flattened per sample and reshaped back.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(500, 3, dtype=torch.float64) @ torch.tensor(
    ...     [[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.5, 0.2]], dtype=torch.float64)
    >>> z = whiten(x, eps=0.0)
    >>> bool(torch.allclose(torch.cov(z.T), torch.eye(3, dtype=torch.float64), atol=1e-8))
    True
    """
    shape = x.shape
    a = x.reshape(shape[0], -1)
    B, N = a.shape
    if B < 2:
        raise NotEnoughDataError(f"whitening needs a batch of >= 2 samples; got {B}.")
    mu = a.mean(0, keepdim=True)
    ac = a - mu
    cov = ac.T @ ac / (B - 1) + eps * torch.eye(N, dtype=a.dtype, device=a.device)
    L = torch.linalg.cholesky(cov)
    z = torch.linalg.solve_triangular(L, ac.T, upper=False).T
    return z.reshape(shape)


class Whitening(torch.nn.Module):
    """Whitening layer (the control of Nassar et al.): a flat eigenspectrum.

    In training mode it whitens each batch with its own mean and covariance
    (:func:`whiten`, gradients through mean, covariance and Cholesky) and updates
    running estimates with ``momentum``; in eval mode it uses the running ones (like
    batch norm). Batches must hold more samples than features.

    Parameters
    ----------
    num_features : int
        Width of the (flattened) input.
    eps : float, default=1e-5
        Ridge added to the covariance before the Cholesky factorization.
    momentum : float, default=0.1

    Examples
    --------
    >>> import torch
    >>> w = Whitening(3)
    >>> z = w(torch.randn(64, 3))
    >>> tuple(z.shape)
    (64, 3)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        _check_positive("num_features", num_features, integer=True, minimum=1,
                        strict=False)
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_cov", torch.eye(num_features))

    def forward(self, x: Any) -> Any:  # noqa: D102
        shape = x.shape
        a = x.reshape(shape[0], -1)
        if a.shape[1] != self.num_features:
            raise SpikeDecodeValueError(
                f"Whitening expects {self.num_features} features per sample; got "
                f"{a.shape[1]} (input shape {tuple(shape)})."
            )
        if self.training:
            with torch.no_grad():
                mu = a.mean(0)
                cov = torch.cov(a.T).reshape(self.num_features, self.num_features)
                self.running_mean.lerp_(mu, self.momentum)
                self.running_cov.lerp_(cov, self.momentum)
            return whiten(x, self.eps)
        eye = torch.eye(self.num_features, dtype=a.dtype, device=a.device)
        L = torch.linalg.cholesky(self.running_cov + self.eps * eye)
        z = torch.linalg.solve_triangular(L, (a - self.running_mean).T, upper=False).T
        return z.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


# -------------------------------------------------------------------- Jacobian


def jacobian_penalty(x: Any, output: Any, *, n_projections: int = 1,
                     generator: Any = None) -> Any:
    """``(1/2) ||J||_F^2`` per sample (batch mean), J = d output / d x, by random projections.

    ``||J||_F^2 = C * E_v ||v^T J||^2`` for ``v`` uniform on the unit sphere of the ``C``
    outputs; each projection costs one backward pass (with ``create_graph`` so that the
    penalty itself can be differentiated). ``x`` must require grad and ``output`` must
    have been computed from it.

    Examples
    --------
    >>> import torch
    >>> W = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    >>> x = torch.randn(4, 2, requires_grad=True)
    >>> out = x @ W.T
    >>> p = jacobian_penalty(x, out, n_projections=200, generator=torch.Generator().manual_seed(0))
    >>> abs(float(p) - 0.5 * float((W ** 2).sum())) < 1.0
    True
    """
    if not x.requires_grad:
        raise ConfigError("jacobian_penalty needs x.requires_grad; compute output from "
                          "x.requires_grad_() (JacobianRegularizer does this with a hook).")
    _check_positive("n_projections", n_projections, integer=True, minimum=1, strict=False)
    out = output.reshape(output.shape[0], -1)
    B, C = out.shape
    total = out.new_zeros(())
    for _ in range(int(n_projections)):
        v = torch.randn(B, C, generator=generator, dtype=out.dtype).to(out.device)
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
        (jv,) = torch.autograd.grad(out, x, v, retain_graph=True, create_graph=True)
        total = total + C * jv.pow(2).sum() / (n_projections * B)
    return 0.5 * total


class JacobianRegularizer:
    """Penalize the input-output Jacobian norm (the baseline of Nassar et al.).

    A loss term for :func:`spikedecode.training.train`: ``beta * (1/2) ||J||_F^2`` per
    sample (:func:`jacobian_penalty`). ``attach`` registers a forward pre-hook on the model
    that marks the training input as requiring grad, so the penalty reuses the training
    forward pass (no second forward).

    Parameters
    ----------
    beta : float, default=0.01
    n_projections : int, default=1
    random_state : int, Generator or None
    name : str, default="jacobian"

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from spikedecode.training import train
    >>> x = torch.randn(64, 4); y = (x[:, 0] > 0).long()
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    >>> hist = train(net, (x, y), loss_terms=[JacobianRegularizer(0.1, random_state=0)],
    ...              max_epochs=1, batch_size=32, random_state=0)
    >>> hist.epochs[0]["term/jacobian"] > 0
    True
    """

    def __init__(self, beta: float = 0.01, n_projections: int = 1, *,
                 random_state: RandomStateLike = None, name: str = "jacobian") -> None:
        self.beta = beta
        self.n_projections = n_projections
        self.random_state = random_state
        self.name = name
        self._handle = None
        self._x = None
        self._gen = None

    def attach(self, module: Any) -> None:
        """Register the pre-hook that makes the training input require grad."""
        _check_positive("beta", self.beta, minimum=0.0, strict=False)
        _check_positive("n_projections", self.n_projections, integer=True, minimum=1,
                        strict=False)
        self.detach()
        self._gen = torch_generator(draw_seed(self.random_state))

        def pre_hook(mod: Any, args: Any) -> Any:
            if not (mod.training and torch.is_grad_enabled()) or not args:
                return None
            x = args[0]
            if not torch.is_tensor(x) or not x.is_floating_point():
                return None
            x = x.detach().requires_grad_(True)
            self._x = x
            return (x, *args[1:])

        self._handle = module.register_forward_pre_hook(pre_hook)

    def detach(self) -> None:
        """Remove the hook."""
        if self._handle is not None:
            self._handle.remove()
        self._handle = None
        self._x = None

    def __call__(self, state: Any) -> Any:
        """The penalty for the current batch."""
        if self._x is None:
            raise ConfigError("JacobianRegularizer saw no training input; pass it in "
                              "train(loss_terms=[...]) so that its hook is registered.")
        pen = jacobian_penalty(self._x, state.output, n_projections=int(self.n_projections),
                               generator=self._gen)
        self._x = None
        return float(self.beta) * pen


# ------------------------------------------------------------------ sensitivity


def sensitivity_map(model: Any, data: Any, n: int | Sequence[int] = 1, layer: Any = None, *,
                    batch_size: int = 1024) -> np.ndarray:
    """``d lambda_n / d x``: gradient of the n-th eigenvalue of a layer's covariance.

    ``lambda_n`` is the n-th largest eigenvalue of the covariance of ``layer``'s
    activations over all of ``data``. By first-order perturbation theory
    (Hellmann-Feynman), for a simple eigenvalue ``d lambda_n = v_n^T d Sigma v_n`` with
    ``v_n`` held fixed, and the mean's contribution vanishes; so the gradient with respect
    to each input is computed chunk by chunk with ``v_n`` and the mean fixed, exactly.

    Parameters
    ----------
    model : torch.nn.Module
    data : array, tensor, (X, y) pair or object with ``.train``
        The data set defining the covariance (e.g. 1,000 test images).
    n : int or sequence of int, default=1
        1-based eigenvalue index (or indices).
    layer : str or nn.Module
        The layer (the paper uses the last hidden layer).
    batch_size : int, default=1024

    Returns
    -------
    numpy.ndarray
        ``(n_samples, *input_shape)`` for one ``n``; ``(len(n), n_samples, *input_shape)``
        for a sequence. Average over samples (or show single ones) as images.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(6, 4), nn.Tanh())
    >>> s = sensitivity_map(net, torch.randn(30, 6), n=[1, 2], layer="1")
    >>> s.shape
    (2, 30, 6)
    """
    if layer is None:
        raise ConfigError("layer is required: name the (last hidden) layer, e.g. layer='hidden'.")
    X = _as_inputs(data)
    ns = [n] if isinstance(n, (int, np.integer)) else list(n)
    mean, cov = layer_covariance(model, X, layer, batch_size=batch_size)
    evals, evecs = _eigh_descending(cov)
    N = evecs.shape[0]
    for k in ns:
        if not 1 <= int(k) <= N:
            raise ConfigError(f"n == {k}, must be in [1, {N}] for a layer of width {N}.")
    cols = torch.as_tensor([int(k) - 1 for k in ns])
    mod = _resolve_layer(model, layer)
    store: dict[str, Any] = {}

    def hook(_m: Any, _inp: Any, out: Any) -> None:
        store["a"] = flatten_activation(mod, out)

    handle = mod.register_forward_hook(hook)
    was_training = model.training
    dev = _model_device(model)
    model.eval()
    M = len(X)
    grads = []
    try:
        for i in range(0, M, batch_size):
            xb = X[i : i + batch_size].to(dev).detach().requires_grad_(True)
            model(xb)
            a = store["a"]
            V = evecs[:, cols].to(dtype=a.dtype, device=a.device)
            proj = (a - mean.to(dtype=a.dtype, device=a.device)) @ V  # (b, len(ns))
            gs = []
            for j in range(len(ns)):
                lam_part = proj[:, j].pow(2).sum() / (M - 1)
                (g,) = torch.autograd.grad(lam_part, xb, retain_graph=j < len(ns) - 1)
                gs.append(g.detach().cpu())
            grads.append(torch.stack(gs))
    finally:
        handle.remove()
        model.train(was_training)
    out = torch.cat(grads, dim=1).numpy()
    return out[0] if isinstance(n, (int, np.integer)) else out
