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

import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import torch

from spikedecode._random import RandomStateLike, draw_seed, torch_generator
from spikedecode._validation import Interval, check_param
from spikedecode.errors import ConfigError, NotEnoughDataError, SpikeDecodeWarning
from spikedecode.robust._hooks import LayerCapture, flatten_activation, resolve_layers
from spikedecode.robust._utils import eigh_descending
from spikedecode.robust.spectra import layer_covariance

__all__ = [
    "SmallBatchWarning",
    "SpectralRegularizer",
    "spectral_penalty",
]


class SmallBatchWarning(SpikeDecodeWarning):
    """The batch is smaller than the layer width: the batch covariance is rank-deficient.

    ``diag(V^T Sigma_batch V)`` then estimates the tail eigenvalues poorly (at most
    ``batch - 1`` of them can be non-zero); Nassar et al. used batches of 1.5 x width.
    """



# ---------------------------------------------------------------------- the penalty


def spectral_penalty(activations: Any, V: Any, *, exponent: float = 1.0, tau: int = 10,
                     directions: Any = None, kappa: Any = None, detach_kappa: bool = True,
                     return_eigs: bool = False, n_max: int | None = None) -> Any:
    """Eq. (2) of Nassar et al. for one layer, with a fixed eigenbasis ``V``.

    ``(1/N) * sum_{n >= tau} [(lam_n / gamma_n - 1)**2 + max(0, lam_n / gamma_n - 1)]``
    with ``lam_n = v_n^T Sigma_batch v_n`` (``Sigma_batch`` the unbiased covariance of
    ``activations``), ``gamma_n = kappa * n**-exponent`` and ``kappa = lam_tau * tau**exponent``
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
    exponent : float, default=1.0
        Target power-law exponent (``alpha`` in Nassar et al.).
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
    width = f"The layer has width N={N}."
    tau = check_param(tau, "tau", Interval(Integral, 1, N, closed="both"), hint=width)
    n_max = N if n_max is None else check_param(
        n_max, "n_max", Interval(Integral, tau, N, closed="both"), hint=f"tau={tau}; {width}")
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
    n_pow = n.pow(exponent)  # n_pow[0] is tau**exponent in both branches
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

    with ``gamma_n = kappa n**-exponent_l`` and ``kappa`` such that ``gamma_tau = lam_tau``
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
    exponent : float or sequence of float, default=1.0
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

    def __init__(self, layers: Any, exponent: float | Sequence[float] = 1.0, tau: int = 10,
                 beta: float | Sequence[float] = 1.0, *, X: Any = None,
                 n_directions: int | None = None, refresh_every: int = 1,
                 batch_size: int = 4096, basis_dtype: Any = None, detach_kappa: bool = True,
                 random_state: RandomStateLike = None, name: str = "spectral",
                 n_max: int | None = None) -> None:
        self.layers = layers
        self.exponent = exponent
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
        self._capture: LayerCapture | None = None
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
            check_param(v, name, Interval(Real, 0.0, None))
        return [float(v) for v in vals]

    def _check_params(self) -> None:
        n = len(self._layer_list())
        self._exponents = self._per_layer("exponent", self.exponent, n)
        self._betas = self._per_layer("beta", self.beta, n)
        check_param(self.tau, "tau", Interval(Integral, 1, None))
        check_param(self.refresh_every, "refresh_every", Interval(Integral, 1, None))
        check_param(self.batch_size, "batch_size", Interval(Integral, 1, None))
        if self.n_directions is not None:
            check_param(self.n_directions, "n_directions", Interval(Integral, 1, None))
        if self.n_max is not None:
            check_param(self.n_max, "n_max", Interval(Integral, int(self.tau), None))

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
            evals, evecs = eigh_descending(cov, dtype)
            self.bases_.append(evecs.to(torch.float32))
            self.eigenvalues_.append(evals.to(torch.float64))
        return self

    def _fit_basis_from_batch(self) -> None:
        self.bases_, self.eigenvalues_ = [], []
        acts = self._batch_activations()
        for i in range(len(self._mods)):
            a = acts[i].detach()
            cov = torch.cov(a.T.to(torch.float64))
            cov = cov.reshape(1, 1) if cov.ndim == 0 else cov
            evals, evecs = eigh_descending(cov, self.basis_dtype or torch.float64)
            self.bases_.append(evecs.to(a.dtype))
            self.eigenvalues_.append(evals.to(torch.float64))

    # -- training-loop protocol ----------------------------------------------------
    def attach(self, module: Any) -> None:
        """Register forward hooks that capture the chosen layers' training activations."""
        self._check_params()
        self.detach()
        named = resolve_layers(module, self._layer_list())
        if len(named) != len(self._layer_list()):
            raise ConfigError(f"layers == {self.layers!r} names a layer twice.")
        self._mods = list(named.values())
        self._warned = set()
        self._gen = torch_generator(draw_seed(self.random_state))
        # the activations of the current training batch (with their graph), one per layer
        self._capture = LayerCapture(
            named, transform=flatten_activation, keep_graph=True, latest_only=True,
            when=lambda mod: torch.is_grad_enabled() and mod.training).attach()

    def detach(self) -> None:
        """Remove the hooks and drop captured activations."""
        if self._capture is not None:
            self._capture.remove()
        self._capture = None

    def _batch_activations(self) -> dict[int, Any]:
        if self._capture is None:
            return {}
        return {i: v[-1] for i, v in enumerate(self._capture.outputs.values()) if v}

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
        if self._capture is None:
            raise ConfigError("SpectralRegularizer was called before attach(module); pass it "
                              "in train(loss_terms=[...]) so that its hooks are registered.")
        acts = self._batch_activations()
        missing = [i for i in range(len(self._mods)) if i not in acts]
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
            a = acts[i]
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
            pen, eigs = spectral_penalty(a, V, exponent=self._exponents[i], tau=tau,
                                         directions=dirs,
                                         detach_kappa=self.detach_kappa, return_eigs=True,
                                         n_max=n_max)
            self.last_eigs_.append(eigs.detach())
            pen = self._betas[i] * pen
            total = pen if total is None else total + pen
        self._capture.clear()
        return total

    def __repr__(self) -> str:
        return (f"SpectralRegularizer(layers={self.layers!r}, exponent={self.exponent!r}, "
                f"tau={self.tau!r}, beta={self.beta!r}, n_directions={self.n_directions!r}, "
                f"n_max={self.n_max!r})")

