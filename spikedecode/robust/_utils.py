"""Small helpers shared by the ``spikedecode.robust`` modules (not public API).

- :func:`model_device`: the device of a module (its first parameter, else first buffer,
  else the CPU) — the one device helper of the subpackage;
- :func:`as_tensor` / :func:`as_float_tensor` / :func:`as_inputs`: coerce arrays, tensors
  and ``(X, y)`` pairs to tensors, with a clear error for anything else;
- :func:`as_generator`: a ``torch.Generator`` from a generator, an int seed or None (the
  one generator coercion of the subpackage);
- number checks live in :mod:`spikedecode._validation` (one layer for the whole package);
- :func:`eigh_descending`: eigen-decomposition with eigenvalues in decreasing order.

The one ``accuracy`` of the subpackage is :func:`spikedecode.robust.evaluate.accuracy`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from spikedecode.errors import NotEnoughDataError, SpikeDecodeTypeError


def model_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (else first buffer, else the CPU).

    Examples
    --------
    >>> model_device(nn.ReLU())
    device(type='cpu')
    """
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")


def as_tensor(x: Any, name: str = "x") -> torch.Tensor:
    """``x`` as a tensor (arrays are converted); anything else is a ``SpikeDecodeTypeError``.

    Examples
    --------
    >>> as_tensor([1.0, 2.0]).shape
    torch.Size([2])
    """
    if torch.is_tensor(x):
        return x
    try:
        return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError) as err:
        raise SpikeDecodeTypeError(f"{name} must be a tensor or array; got "
                                   f"{type(x).__name__}.") from err


def as_generator(generator: Any) -> torch.Generator | None:
    """A ``torch.Generator`` from a generator, an int seed or None.

    Examples
    --------
    >>> g = as_generator(0)
    >>> torch.rand(1, generator=g).item() == torch.rand(1, generator=as_generator(0)).item()
    True
    """
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise SpikeDecodeTypeError(f"generator must be a torch.Generator, an int seed or None; got "
                               f"{type(generator).__name__}.")


def as_float_tensor(x: Any) -> torch.Tensor:
    """``x`` (array-like or tensor) as a detached tensor, cast to float32 unless floating."""
    t = x.detach() if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))
    return t if t.is_floating_point() else t.float()


def as_inputs(data: Any) -> torch.Tensor:
    """Inputs ``X`` as a float tensor from X, an ``(X, y)`` pair, or an object with ``.train``."""
    if hasattr(data, "train") and isinstance(data.train, (tuple, list)):
        data = data.train
    if isinstance(data, (tuple, list)) and len(data) == 2:
        data = data[0]
    x = as_float_tensor(data)
    if x.ndim < 1 or len(x) == 0:
        raise NotEnoughDataError(f"data holds {len(x) if x.ndim else 0} samples; need >= 2.")
    return x


def eigh_descending(cov: torch.Tensor, dtype: torch.dtype | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (decreasing) and eigenvectors (columns) of a symmetric matrix."""
    c = cov if dtype is None else cov.to(dtype)
    evals, evecs = torch.linalg.eigh(c)
    return evals.flip(0), evecs.flip(1)
