"""Whitening: the flat-spectrum control of Nassar et al. (2020).

``x_tilde = R^-1 (x - mu)`` with ``R`` the Cholesky factor of the batch covariance, with
gradients through mean, covariance and Cholesky (:func:`whiten`), and as a layer with
running estimates for eval mode (:class:`Whitening`).

References
----------
.. [1] J. Nassar, P. A. Sokol, S. Chung, K. D. Harris, I. M. Park, "On 1/n neural
   representation and robustness", NeurIPS 2020.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import torch

from spikedecode._validation import Interval, check_param
from spikedecode.errors import NotEnoughDataError, SpikeDecodeValueError

__all__ = ["Whitening", "whiten"]


def whiten(x: Any, jitter: float = 1e-5) -> Any:
    """``R^-1 (x - mu)`` with ``R`` the lower Cholesky factor of the batch covariance.

    Gradients flow through the mean, the covariance and the Cholesky factorization.
    Inputs of more than two dims are flattened per sample and reshaped back.

    Parameters
    ----------
    x : torch.Tensor, shape (batch, ...)
        The batch to whiten.
    jitter : float, default=1e-5
        Added to the covariance's diagonal before the factorization.

    Returns
    -------
    torch.Tensor
        The whitened batch, of the shape of ``x``.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(500, 3, dtype=torch.float64) @ torch.tensor(
    ...     [[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.5, 0.2]], dtype=torch.float64)
    >>> z = whiten(x, jitter=0.0)
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
    cov = ac.T @ ac / (B - 1) + jitter * torch.eye(N, dtype=a.dtype, device=a.device)
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
    jitter : float, default=1e-5
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

    def __init__(self, num_features: int, jitter: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        check_param(num_features, "num_features", Interval(Integral, 1, None))
        self.num_features = int(num_features)
        self.jitter = float(jitter)
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
            return whiten(x, self.jitter)
        eye = torch.eye(self.num_features, dtype=a.dtype, device=a.device)
        L = torch.linalg.cholesky(self.running_cov + self.jitter * eye)
        z = torch.linalg.solve_triangular(L, (a - self.running_mean).T, upper=False).T
        return z.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, jitter={self.jitter}, momentum={self.momentum}"

