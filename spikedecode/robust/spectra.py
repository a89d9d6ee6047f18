"""Spectra of a layer's activations: covariance, eigenspectrum, power law, sensitivity.

Stringer et al. (2019) found that the eigenspectrum of the covariance of mouse V1
responses to natural images decays as a power law, ``lambda_n ~ n**-alpha`` with
``alpha`` close to 1. This module measures that spectrum for any layer of a network;
:mod:`spikedecode.robust.spectral` imposes it during training.

What is here
------------
:func:`layer_covariance`, :func:`eigenspectrum`, :func:`fit_power_law`, :func:`effective_dimension`
    Streaming covariance of a layer over a data set, its ordered eigenvalues as a
    DataArray, the power-law exponent with a confidence interval, the number of
    components holding 90 % of the variance.
:func:`sensitivity_map`
    ``d lambda_n / d x``: which input pixels move the n-th eigenvalue of a layer.

A layer's activation is one vector per sample as in
:func:`spikedecode.robust._hooks.flatten_activation` (an LSTM gives its final hidden state).

References
----------
.. [1] C. Stringer, M. Pachitariu, N. Steinmetz, M. Carandini, K. D. Harris,
   "High-dimensional geometry of population responses in visual cortex", Nature 2019.
.. [2] J. Nassar, P. A. Sokol, S. Chung, K. D. Harris, I. M. Park, "On 1/n neural
   representation and robustness", NeurIPS 2020.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

from spikedecode._validation import Interval, check_param
from spikedecode.errors import ConfigError, NotEnoughDataError
from spikedecode.robust._hooks import (
    LayerCapture,
    flatten_activation,
    iter_activations,
    resolve_layers,
)
from spikedecode.robust._utils import as_inputs, eigh_descending, model_device

__all__ = [
    "layer_covariance",
    "eigenspectrum",
    "PowerLawFit",
    "fit_power_law",
    "effective_dimension",
    "sensitivity_map",
]


# ----------------------------------------------------------------------------- covariance
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
        Layers whose outputs are used, one vector per sample (the final hidden state of an
        LSTM; see :mod:`spikedecode.robust._hooks`).
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
    X = as_inputs(data)
    accs = [_CovAccumulator() for _ in layer_list]
    for acts in iter_activations(model, X, layer_list, batch_size=batch_size):
        for acc, a in zip(accs, acts):
            acc.update(a)
    res = [(acc.mean, acc.covariance()) for acc in accs]
    return res[0] if single else res



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

    X = as_inputs(data)
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
    """A fitted power law ``lambda_n = 10**intercept * n**-exponent``.

    Attributes
    ----------
    exponent : float
        The exponent (positive for a decaying spectrum; ``alpha`` in Nassar et al.).
    ci : (float, float)
        Confidence interval of ``exponent`` (t interval of the least-squares slope over
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

    exponent: float
    ci: tuple[float, float]
    intercept: float
    n_min: int
    n_max: int
    r2: float
    level: float = 0.95

    def predict(self, n: Any) -> np.ndarray:
        """The fitted line at (1-based) indices ``n``."""
        return 10.0 ** self.intercept * np.asarray(n, dtype=float) ** -self.exponent

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"exponent": self.exponent, "ci": list(self.ci), "intercept": self.intercept,
                "n_min": self.n_min, "n_max": self.n_max, "r2": self.r2, "level": self.level}


def fit_power_law(eigs: Any, n_min: int = 10, n_max: int | None = None, *,
                  level: float = 0.95, n_points: int = 200) -> PowerLawFit:
    """Fit ``lambda_n ~ n**-exponent`` by least squares in log-log space.

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
    >>> round(fit.exponent, 6), round(fit.r2, 6)
    (1.2, 1.0)
    """
    from scipy import stats

    lam = np.asarray(getattr(eigs, "values", eigs), dtype=float).ravel()
    if lam.size < 3:
        raise NotEnoughDataError(f"eigs holds {lam.size} values; a power-law fit needs >= 3.")
    check_param(n_min, "n_min", Interval(Integral, 1, None))
    level = check_param(level, "level", Interval(Real, 0, 1, closed="neither"))
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
    exponent = -float(res.slope)
    return PowerLawFit(exponent=exponent, ci=(exponent - float(half), exponent + float(half)),
                       intercept=float(res.intercept), n_min=int(n_min), n_max=int(n_max),
                       r2=float(res.rvalue ** 2), level=float(level))


def effective_dimension(eigs: Any, threshold: float = 0.9) -> int:
    """Number of leading components that hold ``threshold`` of the variance.

    Parameters
    ----------
    eigs : array-like or xarray.DataArray
        Eigenvalues (any order; negative ones count as 0).
    threshold : float, default=0.9
        Fraction of the total variance, in (0, 1].

    Returns
    -------
    int
        The smallest number of largest eigenvalues whose sum reaches ``threshold``.

    Examples
    --------
    >>> effective_dimension([5.0, 3.0, 1.0, 1.0])
    3
    """
    lam = np.clip(np.asarray(getattr(eigs, "values", eigs), dtype=float).ravel(), 0, None)
    if lam.size == 0 or lam.sum() <= 0:
        raise NotEnoughDataError("eigs holds no positive variance.")
    threshold = check_param(threshold, "threshold", Interval(Real, 0, 1, closed="right"))
    lam = np.sort(lam)[::-1]
    frac = np.cumsum(lam) / lam.sum()
    return int(min(np.searchsorted(frac, threshold - 1e-12) + 1, lam.size))



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
    X = as_inputs(data)
    ns = [n] if isinstance(n, (int, np.integer)) else list(n)
    mean, cov = layer_covariance(model, X, layer, batch_size=batch_size)
    evals, evecs = eigh_descending(cov)
    N = evecs.shape[0]
    for k in ns:
        check_param(k, "n", Interval(Integral, 1, N, closed="both"),
                    hint=f"The layer has width {N}.")
    cols = torch.as_tensor([int(k) - 1 for k in ns])
    cap = LayerCapture(resolve_layers(model, layer), transform=flatten_activation,
                       keep_graph=True, latest_only=True)
    was_training = model.training
    dev = model_device(model)
    model.eval()
    M = len(X)
    grads = []
    try:
        with cap:
            for i in range(0, M, batch_size):
                xb = X[i : i + batch_size].to(dev).detach().requires_grad_(True)
                model(xb)
                (a,) = cap.last()
                V = evecs[:, cols].to(dtype=a.dtype, device=a.device)
                proj = (a - mean.to(dtype=a.dtype, device=a.device)) @ V  # (b, len(ns))
                gs = []
                for j in range(len(ns)):
                    lam_part = proj[:, j].pow(2).sum() / (M - 1)
                    (g,) = torch.autograd.grad(lam_part, xb, retain_graph=j < len(ns) - 1)
                    gs.append(g.detach().cpu())
                grads.append(torch.stack(gs))
    finally:
        model.train(was_training)
    out = torch.cat(grads, dim=1).numpy()
    return out[0] if isinstance(n, (int, np.integer)) else out
