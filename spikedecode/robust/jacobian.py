"""Jacobian regularization: the baseline of Nassar et al. (2020).

The input-output Jacobian's squared Frobenius norm, estimated with random projections
(Hoffman, Roberts & Yaida 2019): :func:`jacobian_penalty` and the training-loop loss term
:class:`JacobianRegularizer`.

References
----------
.. [1] J. Hoffman, D. A. Roberts, S. Yaida, "Robust learning with Jacobian
   regularization", arXiv:1908.02729, 2019.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import torch

from spikedecode._random import RandomStateLike, draw_seed, torch_generator
from spikedecode._validation import Interval, check_param
from spikedecode.errors import ConfigError

__all__ = ["JacobianRegularizer", "jacobian_penalty"]


def jacobian_penalty(x: Any, output: Any, *, n_projections: int = 1,
                     generator: Any = None) -> Any:
    """``(1/2) ||J||_F^2`` per sample (batch mean), J = d output / d x, by random projections.

    ``||J||_F^2 = C * E_v ||v^T J||^2`` for ``v`` uniform on the unit sphere of the ``C``
    outputs; each projection costs one backward pass (with ``create_graph`` so that the
    penalty itself can be differentiated). ``x`` must require grad and ``output`` must
    have been computed from it.

    Parameters
    ----------
    x : torch.Tensor
        The inputs, with ``requires_grad``.
    output : torch.Tensor, shape (batch, C)
        The model's outputs on ``x``.
    n_projections : int, default=1
        Random projections averaged (more: less variance, more backward passes).
    generator : torch.Generator, optional
        Draws the projections.

    Returns
    -------
    torch.Tensor
        The scalar penalty, differentiable.

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
    check_param(n_projections, "n_projections", Interval(Integral, 1, None))
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
        check_param(self.beta, "beta", Interval(Real, 0.0, None))
        check_param(self.n_projections, "n_projections", Interval(Integral, 1, None))
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

