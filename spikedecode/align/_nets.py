"""The torch modules of :mod:`spikedecode.align.adversarial`, at module level.

Module-level classes pickle by reference (Dask workers, joblib), so the aligners that
hold them need no custom ``__getstate__``. This module imports torch: import it lazily
(inside functions) from modules that must load without torch.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional as F

__all__ = ["AutoEncoder", "DayNet", "Discriminator", "SpectralNormLinear", "build_decoder",
           "build_encoder"]


class SpectralNormLinear(nn.Linear):
    """``nn.Linear`` whose weight is divided by its largest singular value.

    The singular value is estimated by power iteration, one step per training forward
    (Miyato et al. 2018), as ``torch.nn.utils.parametrizations.spectral_norm`` does; unlike
    a parametrized module this one pickles (its state is two plain buffers).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> layer = SpectralNormLinear(4, 3)
    >>> bool(torch.linalg.matrix_norm(layer.normalized_weight(), ord=2) < 1.01)
    True
    """

    def __init__(self, in_features: int, out_features: int, *, n_init_iterations: int = 15,
                 eps: float = 1e-12) -> None:
        super().__init__(in_features, out_features)
        self.eps = eps
        self.register_buffer("_u", F.normalize(torch.randn(out_features), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(torch.randn(in_features), dim=0, eps=eps))
        self._power_iteration(n_init_iterations)

    @torch.no_grad()
    def _power_iteration(self, n: int) -> None:
        W = self.weight
        for _ in range(n):
            self._v.copy_(F.normalize(W.t() @ self._u, dim=0, eps=self.eps))
            self._u.copy_(F.normalize(W @ self._v, dim=0, eps=self.eps))

    def normalized_weight(self) -> torch.Tensor:
        """The weight divided by the current estimate of its spectral norm."""
        # clones: the buffers change in place at the next forward, after this graph is built
        u, v = self._u.clone(), self._v.clone()
        return self.weight / torch.dot(u, self.weight @ v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self._power_iteration(1)
        return F.linear(x, self.normalized_weight(), self.bias)


class AutoEncoder(nn.Module):
    """Encoder and decoder of one day; ``forward`` returns ``(x_hat, z, x)``."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return self.decoder(z), z, x


class Discriminator(nn.Module):
    """Codes (and, when ``n_classes > 0``, the one-hot label) -> logit "earlier day"."""

    def __init__(self, n_components: int, n_classes: int, hidden_size: int,
                 spectral_norm: bool) -> None:
        super().__init__()
        self.n_classes = n_classes
        linear = SpectralNormLinear if spectral_norm else nn.Linear
        self.net = nn.Sequential(
            linear(n_components + n_classes, hidden_size), nn.LeakyReLU(0.2),
            linear(hidden_size, hidden_size), nn.LeakyReLU(0.2),
            linear(hidden_size, 1),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            z = torch.cat([z, F.one_hot(labels, self.n_classes).to(z.dtype)], 1)
        return self.net(z).squeeze(1)


class DayNet(nn.Module):
    """What ``train`` sees while a new day is adapted: its autoencoder and the shared
    discriminator (registered as ``disc`` so that the optimizer can tell them apart)."""

    def __init__(self, ae: AutoEncoder, disc: Discriminator) -> None:
        super().__init__()
        self.ae = ae
        self.disc = disc

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.ae(x)


def build_encoder(kind: str, p: int, k: int, hidden_size: int, init: NDArray | None = None,
                 bias: NDArray | None = None) -> nn.Module:
    """``"linear"`` (optionally started at ``init``/``bias``) or ``"mlp"`` encoder ``p -> k``."""
    if kind == "linear":
        enc = nn.Linear(p, k)
        if init is not None:
            with torch.no_grad():
                enc.weight.copy_(torch.as_tensor(init, dtype=torch.float32))
                enc.bias.copy_(torch.as_tensor(np.zeros(k) if bias is None else bias,
                                               dtype=torch.float32))
        return enc
    return nn.Sequential(nn.Linear(p, hidden_size), nn.ELU(), nn.Linear(hidden_size, k))


def build_decoder(k: int, p: int, hidden_size: int) -> nn.Module:
    """MLP decoder ``k -> p``."""
    return nn.Sequential(nn.Linear(k, hidden_size), nn.ELU(), nn.Linear(hidden_size, p))
