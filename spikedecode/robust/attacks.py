"""Adversarial attacks as functions on ``(model, x, y)``, with thin class wrappers.

Every attack declares its input domain and respects it exactly:

* **image attacks** (:func:`fgsm`, :func:`bim`/:func:`ifgsm`, :func:`pgd`,
  :func:`targeted_ifgsm_mse`, :func:`lbfgs_attack`, ``ATTACKS["gaussian"]``) keep the
  result inside ``clip`` (default ``(0, 1)``) and, for the eps-bounded ones, inside the
  eps-ball around ``x``: ``(x_adv - x).abs().max() <= eps`` holds in the dtype of ``x``
  (a last one-ulp correction undoes float rounding of ``x + eps``);
* **count attacks** (:func:`count_greedy_attack`, :func:`count_linf_attack`) take spike
  counts (non-negative integers, e.g. the ``(batch, lag, unit)`` windows a decoder reads)
  and return non-negative integers that differ from the input by at most ``k`` spikes
  (L1) or ``k`` entries (L0), or by at most ``eps`` spikes per entry (L-inf).

Common behaviour: the model's train/eval mode (of every submodule) is restored after the
attack; the model is attacked in eval mode, except recurrent layers on CUDA, which are put
in train mode with their dropout disabled (cuDNN computes RNN backward only in train
mode); gradients are taken with respect to the input only, never accumulated into the
parameters. Stochastic models (dropout at test time, noise injection: detected from
modules flagged ``stochastic = True`` or from logits that differ between two identical
calls) are attacked with expectation over transformation (EOT): the input gradient is
averaged over ``eot_samples`` draws (default :data:`DEFAULT_EOT_SAMPLES`). A fitted
estimator with a ``module_`` attribute (the decoders) can be passed as the model.

References
----------
Goodfellow et al. 2015 (FGSM); Kurakin et al. 2017 (BIM); Madry et al. 2018 (PGD);
Szegedy et al. 2014 (L-BFGS); Athalye et al. 2018 (EOT); Croce & Hein 2020 (AutoAttack
checks).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spikedecode._validation import Interval, Options, check_clip, check_param
from spikedecode.errors import AttackError, SpikeDecodeTypeError
from spikedecode.robust._utils import as_generator, as_tensor, model_device
from spikedecode.robust.noise import gaussian_noise

__all__ = [
    "fgsm",
    "bim",
    "ifgsm",
    "pgd",
    "targeted_ifgsm_mse",
    "lbfgs_attack",
    "count_greedy_attack",
    "count_linf_attack",
    "attack_mode",
    "get_attack",
    "Attack",
    "FGSM",
    "BIM",
    "PGD",
    "TargetedIFGSM",
    "LBFGS",
    "GaussianNoiseAttack",
    "CountGreedy",
    "CountLinf",
    "ATTACKS",
    "DEFAULT_EOT_SAMPLES",
]

DEFAULT_EOT_SAMPLES = 10
Clip = tuple[float | None, float | None] | None


# --------------------------------------------------------------------------- validation
def _module_of(model: Any) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    inner = getattr(model, "module_", None)
    if isinstance(inner, nn.Module):
        return inner
    raise SpikeDecodeTypeError(
        f"model must be a torch.nn.Module or a fitted estimator with a module_ attribute; "
        f"got {type(model).__name__}.")


#: an attack budget / step size: a finite number >= 0 (AttackError otherwise)
_BUDGET = Interval(Real, 0, None)
_POS_INT = Interval(Integral, 1, None)
_NONNEG_INT = Interval(Integral, 0, None)
_CLIP_HINT = "Use (0.0, 1.0) for images, (0.0, None) for counts."


def _check(value: Any, name: str, constraint: Interval) -> Any:
    return check_param(value, name, constraint, error=AttackError)


def _clip_pair(clip: Any) -> tuple[float | None, float | None]:
    return check_clip(clip, error=AttackError, hint=_CLIP_HINT) or (None, None)


def _as_input(x: Any, name: str = "x") -> torch.Tensor:
    x = as_tensor(x, name)
    if x.ndim < 1 or len(x) == 0:
        raise AttackError(f"{name} has shape {tuple(x.shape)}; expected a non-empty batch.")
    return x


def _as_labels(y: Any, n: int, name: str = "y") -> torch.Tensor:
    if not torch.is_tensor(y):
        arr = np.asarray(y)
        if arr.dtype.kind not in "biuf":
            example = arr.reshape(-1)[:1].tolist()[0] if arr.size else None
            raise SpikeDecodeTypeError(
                f"{name} must hold integer class indices (0 .. n_classes - 1), one per "
                f"input; got dtype {arr.dtype} (e.g. {example!r}). Map class labels to the "
                "model's output indices first (e.g. sklearn.preprocessing.LabelEncoder, or "
                "decoder.classes_.searchsorted(labels))."
            )
        y = torch.as_tensor(arr)
    if y.ndim != 1 or len(y) != n:
        raise AttackError(f"{name} has shape {tuple(y.shape)}; expected ({n},) class indices, "
                          "one per input.")
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise AttackError(f"{name} must hold integer class indices.")
    return y.long()


def _check_domain(x: torch.Tensor, clip: tuple[float | None, float | None]) -> None:
    lo, hi = clip
    if lo is not None and bool((x < lo).any()):
        raise AttackError(f"x has values down to {float(x.min()):.4g}, below clip low={lo}; "
                          "scale images to [0, 1] or pass the matching clip=(low, high).")
    if hi is not None and bool((x > hi).any()):
        raise AttackError(f"x has values up to {float(x.max()):.4g}, above clip high={hi}; "
                          "scale images to [0, 1] or pass the matching clip=(low, high).")


def _clamp(x: torch.Tensor, clip: tuple[float | None, float | None]) -> torch.Tensor:
    lo, hi = clip
    if lo is None and hi is None:
        return x
    return torch.clamp(x, min=lo, max=hi)


def _linf_bounds(x0: torch.Tensor, eps: float, clip: tuple[float | None, float | None]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element bounds of the eps-ball intersected with the box, exact in x0's dtype.

    ``x0 - eps`` and ``x0 + eps`` are rounded in float; where the rounding put a bound more
    than ``eps`` away from ``x0``, it is moved one ulp towards ``x0``. Any value between
    the bounds is then within ``eps`` of ``x0`` (float subtraction is monotone), so one
    ``clamp`` per step projects exactly.
    """
    lo_b, hi_b = x0 - eps, x0 + eps
    lo, hi = clip
    if lo is not None:
        lo_b = torch.clamp(lo_b, min=lo)
    if hi is not None:
        hi_b = torch.clamp(hi_b, max=hi)
    for _ in range(4):
        over_lo = (x0 - lo_b) > eps
        over_hi = (hi_b - x0) > eps
        if not bool(over_lo.any()) and not bool(over_hi.any()):
            break
        lo_b = torch.where(over_lo, torch.nextafter(lo_b, x0), lo_b)
        hi_b = torch.where(over_hi, torch.nextafter(hi_b, x0), hi_b)
    return lo_b, hi_b


def _project_l2(adv: torch.Tensor, x0: torch.Tensor, eps: float,
                clip: tuple[float | None, float | None]) -> torch.Tensor:
    delta = adv - x0
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    factor = torch.clamp(eps / norms, max=1.0) * torch.where(norms > eps, 1.0 - 1e-6, 1.0)
    adv = x0 + delta * factor.view(-1, *([1] * (x0.ndim - 1)))
    return _clamp(adv, clip)  # clamping moves towards x0 (inside the box), never out of the ball


def _rand_like(x: torch.Tensor, generator: torch.Generator | None, normal: bool = False
               ) -> torch.Tensor:
    fn = torch.randn if normal else torch.rand
    if generator is not None and generator.device != x.device:
        return fn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return fn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


# --------------------------------------------------------------------------- model mode
@contextlib.contextmanager
def attack_mode(model: Any, mode: str = "eval") -> Iterator[nn.Module]:
    """Put the model in the mode attacks use and restore every submodule's mode after.

    Parameters
    ----------
    model : nn.Module or estimator with ``module_``
    mode : {"eval", "train", "keep"}, default="eval"
        Mode for the attack. Recurrent layers on CUDA are switched to train mode with
        their dropout set to 0 (cuDNN only back-propagates RNNs in train mode). With
        ``"eval"``, dropout layers that are in train mode inside a model in eval mode
        (Monte-Carlo dropout at test time) stay active.

    Yields
    ------
    nn.Module
        The module to call.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train()
    >>> with attack_mode(net) as m:
    ...     m.training
    False
    >>> net.training, net[1].training
    (True, True)
    """
    module = _module_of(model)
    check_param(mode, "mode", Options("eval", "train", "keep"), error=AttackError)
    saved = [(m, m.training) for m in module.modules()]
    rnn_dropout: list[tuple[nn.RNNBase, float]] = []
    # Monte-Carlo dropout: a model in eval mode whose dropout layers were switched back to
    # train mode is stochastic on purpose; keep those layers active (attacked with EOT)
    mc_dropout = [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)
                  and m.training] if not module.training else []
    try:
        if mode == "eval":
            module.eval()
            for m in mc_dropout:
                m.train()
        elif mode == "train":
            module.train()
        if model_device(module).type == "cuda":
            for m in module.modules():
                if isinstance(m, nn.RNNBase):
                    rnn_dropout.append((m, m.dropout))
                    m.dropout = 0.0
                    m.train()
        yield module
    finally:
        for m, p in rnn_dropout:
            m.dropout = p
        for m, was in saved:
            m.training = was


def is_stochastic(model: Any, x: torch.Tensor | None = None, *, atol: float = 1e-6) -> bool:
    """Whether ``model`` gives random outputs in the mode attacks use (eval).

    True when a submodule has ``stochastic = True`` (noise injection layers set it), or,
    when ``x`` is given, when two calls on the same input differ by more than ``atol``
    (relative to the logits' scale).

    Examples
    --------
    >>> class Noisy(nn.Module):
    ...     def forward(self, x):
    ...         return x + torch.randn_like(x)
    >>> is_stochastic(nn.Linear(3, 2), torch.rand(4, 3)), is_stochastic(Noisy(), torch.rand(4, 3))
    (False, True)
    """
    module = _module_of(model)
    if any(getattr(m, "stochastic", False) for m in module.modules()):
        return True
    if x is None:
        return False
    probe = _as_input(x)[:8].to(model_device(module))
    if not probe.is_floating_point():
        probe = probe.float()
    with attack_mode(module) as m, torch.no_grad():
        a, b = m(probe), m(probe)
    scale = float(a.abs().max()) + 1.0
    return bool((a - b).abs().max() > atol * scale)


# --------------------------------------------------------------------------- gradients
def _resolve_eot(module: nn.Module, x: torch.Tensor, eot_samples: Any) -> int:
    if eot_samples is None:
        return DEFAULT_EOT_SAMPLES if is_stochastic(module, x) else 1
    return _check(eot_samples, "eot_samples", _POS_INT)


def _loss(loss_fn: Callable | None) -> Callable:
    return loss_fn if loss_fn is not None else F.cross_entropy


def _input_grad(module: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
                targeted: bool, eot: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the attack objective w.r.t. x (ascent direction) and the last logits."""
    grad: torch.Tensor | None = None
    out = torch.empty(0)
    for _ in range(eot):
        with torch.enable_grad():  # attacks also work when called under torch.no_grad()
            xr = x.detach().requires_grad_(True)
            out = module(xr)
            loss = loss_fn(out, y)
            (g,) = torch.autograd.grad(loss, xr, allow_unused=True)
        if g is None:
            g = torch.zeros_like(x)
        grad = g if grad is None else grad + g
    if grad is None:  # eot >= 1 always runs once; keeps type checkers happy
        grad = torch.zeros_like(x)
    if eot > 1:
        grad = grad / eot
    return (-grad if targeted else grad), out.detach()


def _prepare(model: Any, x: Any, y: Any, clip: Any, name_y: str = "y"
             ) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor,
                        tuple[float | None, float | None]]:
    module = _module_of(model)
    x_in = _as_input(x)
    clip_ = _clip_pair(clip)
    dev = model_device(module)
    x0 = x_in.detach().to(dev)
    if not x0.is_floating_point():
        x0 = x0.float()
    _check_domain(x0, clip_)
    y_ = _as_labels(y, len(x0), name_y).to(dev)
    return module, x_in, x0, y_, clip_


def _out(adv: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    adv = adv.detach().to(x_in.device)
    if not x_in.is_floating_point():
        adv = adv.round().to(x_in.dtype)
    return adv


# --------------------------------------------------------------------------- image attacks
def fgsm(model: Any, x: Any, y: Any, *, eps: float, clip: Clip = (0.0, 1.0),
         targeted: bool = False, loss_fn: Callable | None = None,
         eot_samples: int | None = None) -> torch.Tensor:
    """Fast gradient sign method: ``x + eps * sign(grad_x loss)``, projected on ``clip``.

    Parameters
    ----------
    model : nn.Module or estimator with ``module_``
        Maps ``x`` to logits.
    x : Tensor
        Inputs inside ``clip``.
    y : Tensor (n,)
        True labels, or target labels when ``targeted=True``.
    eps : float
        L-inf budget, >= 0.
    clip : (low, high) or None, default=(0.0, 1.0)
        Input domain; either bound may be None.
    targeted : bool, default=False
        Step to *decrease* the loss towards ``y``.
    loss_fn : callable, optional
        ``loss(logits, y) -> scalar``; default mean cross-entropy (as torchattacks).
    eot_samples : int, optional
        Gradient draws to average; default 1 for deterministic models,
        :data:`DEFAULT_EOT_SAMPLES` for stochastic ones.

    Returns
    -------
    Tensor
        Adversarial inputs, same shape, device and dtype as ``x``.

    Examples
    --------
    >>> torch.manual_seed(0); net = nn.Linear(4, 3)  # doctest: +ELLIPSIS
    <...>
    >>> x = torch.rand(5, 4); y = torch.tensor([0, 1, 2, 0, 1])
    >>> adv = fgsm(net, x, y, eps=0.1)
    >>> bool((adv - x).abs().max() <= 0.1) and bool(adv.min() >= 0) and bool(adv.max() <= 1)
    True
    """
    module, x_in, x0, y_, clip_ = _prepare(model, x, y, clip)
    eps = _check(eps, "eps", _BUDGET)
    with attack_mode(module) as m:
        eot = _resolve_eot(m, x0, eot_samples)
        g, _ = _input_grad(m, x0, y_, _loss(loss_fn), targeted, eot)
        lo_b, hi_b = _linf_bounds(x0, eps, clip_)
        adv = torch.clamp(x0 + eps * g.sign(), min=lo_b, max=hi_b)
    return _out(adv, x_in)


def bim(model: Any, x: Any, y: Any, *, eps: float, step_size: float | None = None,
        n_steps: int = 10, clip: Clip = (0.0, 1.0), targeted: bool = False,
        loss_fn: Callable | None = None, eot_samples: int | None = None) -> torch.Tensor:
    """Basic iterative method (iterative FGSM, Kurakin et al.): PGD without random start.

    Parameters
    ----------
    model, x, y, eps, clip, targeted, loss_fn, eot_samples
        As in :func:`fgsm`.
    step_size : float, optional
        Per-step size; default ``2.5 * eps / n_steps``.
    n_steps : int, default=10

    Returns
    -------
    Tensor
        The adversarial inputs, within ``eps`` of ``x`` (L-inf) and inside ``clip``.

    Examples
    --------
    >>> torch.manual_seed(0); net = nn.Linear(4, 3)  # doctest: +ELLIPSIS
    <...>
    >>> x = torch.rand(5, 4); y = net(x).argmax(1)
    >>> adv = bim(net, x, y, eps=0.1, n_steps=3)
    >>> bool((adv - x).abs().max() <= 0.1)
    True
    """
    return pgd(model, x, y, eps=eps, step_size=step_size, n_steps=n_steps, norm="linf",
               random_start=False, clip=clip, targeted=targeted, loss_fn=loss_fn,
               eot_samples=eot_samples)


ifgsm = bim


def pgd(model: Any, x: Any, y: Any, *, eps: float, step_size: float | None = None,
        n_steps: int = 40, norm: str = "linf", random_start: bool = True,
        clip: Clip = (0.0, 1.0), targeted: bool = False, loss_fn: Callable | None = None,
        eot_samples: int | None = None, generator: Any = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al.) in the L-inf or L2 ball.

    Parameters
    ----------
    model, x, y, clip, targeted, loss_fn, eot_samples
        As in :func:`fgsm`.
    eps : float
        Radius of the ball.
    step_size : float, optional
        Default ``2.5 * eps / n_steps`` (the paper setting for MNIST: eps=0.3, 40 steps of
        0.01 is ``step_size=0.01``).
    n_steps : int, default=40
    norm : {"linf", "l2"}, default="linf"
        L-inf steps along the gradient's sign; L2 steps along the normalised gradient.
    random_start : bool, default=True
        Start from a uniform point of the ball (L-inf) or a random direction (L2).
    generator : torch.Generator or int, optional
        Source of the random start.

    Returns
    -------
    Tensor

    Examples
    --------
    >>> torch.manual_seed(0); net = nn.Linear(4, 3)  # doctest: +ELLIPSIS
    <...>
    >>> x = torch.rand(5, 4); y = net(x).argmax(1)
    >>> adv = pgd(net, x, y, eps=0.2, n_steps=5, generator=0)
    >>> bool((adv - x).abs().max() <= 0.2)
    True
    """
    module, x_in, x0, y_, clip_ = _prepare(model, x, y, clip)
    eps = _check(eps, "eps", _BUDGET)
    n_steps = _check(n_steps, "n_steps", _NONNEG_INT)
    check_param(norm, "norm", Options("linf", "l2"), error=AttackError)
    alpha = _check(step_size, "step_size", _BUDGET) if step_size is not None else \
        2.5 * eps / max(n_steps, 1)
    gen = as_generator(generator)
    loss = _loss(loss_fn)
    if norm == "linf":
        lo_b, hi_b = _linf_bounds(x0, eps, clip_)

        def project(a: torch.Tensor, *_: Any) -> torch.Tensor:
            return torch.clamp(a, min=lo_b, max=hi_b)
    else:
        project = _project_l2
    with attack_mode(module) as m:
        eot = _resolve_eot(m, x0, eot_samples)
        adv = x0.clone()
        if random_start and eps > 0:
            if norm == "linf":
                adv = x0 + (2 * _rand_like(x0, gen) - 1) * eps
            else:
                d = _rand_like(x0, gen, normal=True)
                d = d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x0.ndim - 1)))
                r = _rand_like(x0[:, :1].flatten(1)[:, :1], gen).view(-1, *([1] * (x0.ndim - 1)))
                adv = x0 + d * r * eps
            adv = project(adv, x0, eps, clip_)
        for _ in range(n_steps):
            g, _ = _input_grad(m, adv, y_, loss, targeted, eot)
            with torch.no_grad():
                if norm == "linf":  # in place: g is a fresh tensor, adv is ours
                    adv = adv.add_(g.sign_(), alpha=alpha).clamp_(min=lo_b, max=hi_b)
                else:
                    gn = g.flatten(1).norm(dim=1).clamp_min(1e-12)
                    adv = adv + alpha * g / gn.view(-1, *([1] * (x0.ndim - 1)))
                    adv = project(adv, x0, eps, clip_)
    return _out(adv, x_in)


#: How targeted_ifgsm_mse turns model outputs into probabilities.
_PROBS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "logits": lambda out: torch.softmax(out, dim=1),
    "sigmoid": torch.sigmoid,
    "probs": lambda out: out,
}


def targeted_ifgsm_mse(model: Any, x: Any, target: Any, *, step_size: float = 0.01,
                       n_steps: int = 100, clip: Clip = (0.0, 1.0),
                       eps: float | None = None, output: str = "logits",
                       eot_samples: int | None = None,
                       callback: Callable[[int, torch.Tensor], None] | None = None
                       ) -> torch.Tensor:
    """Targeted iterative FGSM with an MSE loss between the class probabilities and a one-hot.

    The seed study's setting: ``n_steps=100`` steps of size ``step_size=0.01``, each
    ``x <- clip(x - step_size * sign(grad MSE(p(f(x)), onehot(target))))``. The total
    perturbation is bounded by ``n_steps * step_size``, and by ``eps`` in L-inf if given.

    Parameters
    ----------
    model, x, clip, eot_samples
        As in :func:`fgsm`.
    target : Tensor (n,)
        Target class of each input.
    step_size : float, default=0.01
        Per-step size.
    n_steps : int, default=100
    eps : float, optional
        The attack budget: also keep ``|x_adv - x|_inf <= eps`` (as in :func:`pgd`).
    output : {"logits", "sigmoid", "probs"}, default="logits"
        How the model's outputs become the probabilities ``p`` compared to the one-hot:
        softmax of logits, element-wise sigmoid (e.g. Net1), or used as they are.
    callback : callable ``callback(step, x_adv)``, optional
        Called after every step (``step = 1 .. n_steps``) with the current iterate
        (detached, on the model's device), e.g. to log a trajectory.

    Returns
    -------
    Tensor

    Examples
    --------
    >>> net = nn.Linear(4, 3); x = torch.rand(2, 4)
    >>> seen = []
    >>> adv = targeted_ifgsm_mse(net, x, torch.tensor([0, 2]), step_size=0.01, n_steps=5,
    ...                          eps=0.03, callback=lambda k, xa: seen.append(k))
    >>> seen, bool((adv - x).abs().max() <= 0.03)
    ([1, 2, 3, 4, 5], True)
    """
    module, x_in, x0, t, clip_ = _prepare(model, x, target, clip, name_y="target")
    step_size = _check(step_size, "step_size", _BUDGET)
    n_steps = _check(n_steps, "n_steps", _NONNEG_INT)
    bound = _check(eps, "eps", _BUDGET) if eps is not None else None
    check_param(output, "output", Options(*sorted(_PROBS)), error=AttackError)
    to_probs = _PROBS[output]

    def mse(out: torch.Tensor, tt: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(tt, out.shape[1]).to(out.dtype)
        return F.mse_loss(to_probs(out), onehot)

    lo_b, hi_b = _linf_bounds(x0, bound, clip_) if bound is not None else (None, None)
    with attack_mode(module) as m:
        eot = _resolve_eot(m, x0, eot_samples)
        adv = x0.clone()
        for k in range(1, n_steps + 1):
            g, _ = _input_grad(m, adv, t, mse, True, eot)
            with torch.no_grad():
                adv = adv + step_size * g.sign()
                adv = torch.clamp(adv, min=lo_b, max=hi_b) if lo_b is not None else \
                    _clamp(adv, clip_)
            if callback is not None:
                callback(k, adv.detach())
    return _out(adv, x_in)


def lbfgs_attack(model: Any, x: Any, target: Any = None, *, y: Any = None,
                 clip: Clip = (0.0, 1.0), c_init: float = 0.01, c_search: int = 8,
                 max_iter: int = 50, return_success: bool = False
                 ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Box-constrained L-BFGS attack of Szegedy et al. (2014), targeted.

    For each input, minimises ``||x' - x||_2^2 / d + c * CE(f(x'), target)`` over
    ``x'`` inside ``clip`` with scipy's L-BFGS-B, and searches for the smallest constant
    ``c`` whose minimiser is classified as ``target`` (multiply ``c`` by 10 until success,
    then bisect; ``c_search`` rounds in all). The batch is optimised jointly (the objective
    is a sum of independent per-sample terms) with one ``c`` per sample.

    Parameters
    ----------
    model, x, clip
        As in :func:`fgsm`; ``clip`` must be finite on both sides or None.
    target : Tensor (n,), optional
        Target labels. Default: the most likely class other than ``y`` (or other than the
        predicted class when ``y`` is None), i.e. an untargeted attack.
    y : Tensor (n,), optional
        True labels, used only to choose the default target.
    c_init : float, default=0.01
    c_search : int, default=8
        Rounds of the search on ``c``.
    max_iter : int, default=50
        L-BFGS-B iterations per round.
    return_success : bool, default=False
        Also return a bool tensor: whether the target class was reached.

    Returns
    -------
    x_adv : Tensor
        The closest successful adversarial found for each input; ``x`` itself where none
        succeeded.
    success : Tensor of bool, only if ``return_success``

    Examples
    --------
    >>> torch.manual_seed(0); net = nn.Linear(4, 3)  # doctest: +ELLIPSIS
    <...>
    >>> x = torch.rand(2, 4)
    >>> target = (net(x).argmax(1) + 1) % 3
    >>> adv, ok = lbfgs_attack(net, x, target, max_iter=20, return_success=True)
    >>> adv.shape, ok.dtype
    (torch.Size([2, 4]), torch.bool)
    """
    from scipy.optimize import minimize

    module = _module_of(model)
    x_in = _as_input(x)
    clip_ = _clip_pair(clip)
    dev = model_device(module)
    x0 = x_in.detach().to(dev).float()
    _check_domain(x0, clip_)
    c0 = _check(c_init, "c_init", Interval(Real, 0, None, closed="neither"))
    c_search = _check(c_search, "c_search", _POS_INT)
    max_iter = _check(max_iter, "max_iter", _POS_INT)
    n = len(x0)
    d = int(x0[0].numel())
    with attack_mode(module) as m:
        with torch.no_grad():
            logits0 = m(x0)
        if target is None:
            ref = _as_labels(y, n).to(dev) if y is not None else logits0.argmax(1)
            masked = logits0.clone()
            masked[torch.arange(n), ref] = -math.inf
            t = masked.argmax(1)
        else:
            t = _as_labels(target, n, "target").to(dev)
        lo = np.full(n, 0.0)
        hi = np.full(n, np.inf)
        c = np.full(n, c0)
        best = x0.clone()
        best_d = torch.full((n,), math.inf, device=dev)
        success = (logits0.argmax(1) == t)
        best_d[success] = 0.0
        lo_b = -np.inf if clip_[0] is None else clip_[0]
        hi_b = np.inf if clip_[1] is None else clip_[1]
        bounds = [(lo_b, hi_b)] * (n * d)
        shape = x0.shape
        x0_np = x0.detach().cpu().double().numpy().ravel()
        for _ in range(c_search):
            ct = torch.as_tensor(c, dtype=torch.float32, device=dev)

            def fun(z: np.ndarray, ct: torch.Tensor = ct) -> tuple[float, np.ndarray]:
                with torch.enable_grad():
                    xr = torch.as_tensor(z, dtype=torch.float32, device=dev).view(shape)
                    xr.requires_grad_(True)
                    ce = F.cross_entropy(m(xr), t, reduction="none")
                    dist = ((xr - x0) ** 2).flatten(1).sum(1) / d
                    total = (dist + ct * ce).sum()
                    (g,) = torch.autograd.grad(total, xr)
                return float(total.detach()), g.detach().cpu().double().numpy().ravel()

            res = minimize(fun, x0_np.copy(), jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": max_iter})
            cand = torch.as_tensor(res.x, dtype=torch.float32, device=dev).view(shape)
            cand = _clamp(cand, clip_)
            with torch.no_grad():
                ok = m(cand).argmax(1) == t
            dist = (cand - x0).flatten(1).norm(dim=1)
            better = ok & (dist < best_d)
            best[better] = cand[better]
            best_d[better] = dist[better]
            success |= ok
            ok_np = ok.cpu().numpy()
            hi = np.where(ok_np, np.minimum(hi, c), hi)
            lo = np.where(ok_np, lo, np.maximum(lo, c))
            c = np.where(np.isfinite(hi), (lo + hi) / 2, c * 10)
    adv = _out(best, x_in)
    return (adv, success.cpu()) if return_success else adv


# --------------------------------------------------------------------------- count attacks
def _check_counts(x: torch.Tensor, name: str = "x_counts") -> torch.Tensor:
    xf = x.detach().double()
    if bool((xf < 0).any()) or not torch.equal(xf, xf.round()):
        raise AttackError(f"{name} must hold non-negative integer spike counts; got values in "
                          f"[{float(xf.min()):.4g}, {float(xf.max()):.4g}] with "
                          f"{int((xf != xf.round()).sum())} non-integers.")
    return x


def _fooled(out: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    pred = out.argmax(1)
    return pred == y if targeted else pred != y


def count_greedy_attack(model: Any, x_counts: Any, y: Any, *, k: int, norm: str = "l1",
                        max_count: int | None = None, max_change: int = 1,
                        targeted: bool = False, loss_fn: Callable | None = None,
                        n_candidates: int = 1, early_stop: bool = True,
                        eot_samples: int | None = None) -> torch.Tensor:
    """Greedy gradient-guided spike insertion/deletion under an L1 or L0 budget.

    At each of at most ``k`` rounds, the input gradient of the loss scores every feasible
    move (add one spike where the gradient is positive, delete one where it is negative
    and the count is >= 1); the best move is applied. With ``n_candidates > 1`` the
    ``n_candidates`` best-scored moves are evaluated exactly with a forward pass and the
    one that raises the loss most is kept. A sample stops as soon as it is misclassified
    (or reaches its target) when ``early_stop``.

    Parameters
    ----------
    model : nn.Module or fitted decoder with ``module_``
        Takes float counts (e.g. ``(batch, lag, unit)``) and returns logits.
    x_counts : Tensor or array
        Non-negative integer counts (integer or float dtype).
    y : Tensor (n,)
        True labels (targets when ``targeted``).
    k : int
        Budget: total spikes added + deleted (``norm="l1"``) or entries changed
        (``norm="l0"``, each by up to ``max_change`` spikes).
    norm : {"l1", "l0"}, default="l1"
    max_count : int, optional
        Upper bound on any count after the attack.
    max_change : int, default=1
        L0 only: spikes added to or removed from one chosen entry.
    targeted, loss_fn, eot_samples
        As in :func:`fgsm`.
    n_candidates : int, default=1
    early_stop : bool, default=True

    Returns
    -------
    Tensor
        Counts with the dtype and device of ``x_counts``;
        ``(x_adv - x).abs().sum() <= k`` per sample (L1) or
        ``(x_adv != x).sum() <= k`` (L0), all entries non-negative integers.

    Examples
    --------
    >>> torch.manual_seed(0); net = nn.Sequential(nn.Flatten(), nn.Linear(6, 2))  # doctest: +ELLIPSIS
    <...>
    >>> x = torch.randint(0, 4, (5, 2, 3)); y = torch.zeros(5, dtype=torch.long)
    >>> adv = count_greedy_attack(net, x, y, k=3)
    >>> bool((adv - x).abs().flatten(1).sum(1).max() <= 3) and bool(adv.min() >= 0)
    True
    """
    _check_counts(_as_input(x_counts, "x_counts"))
    module, x_in, x0, y_, _ = _prepare(model, x_counts, y, (0.0, None))
    k = _check(k, "k", _NONNEG_INT)
    check_param(norm, "norm", Options("l1", "l0"), error=AttackError)
    max_change = _check(max_change, "max_change", _POS_INT)
    n_candidates = _check(n_candidates, "n_candidates", _POS_INT)
    if max_count is not None:
        max_count = _check(max_count, "max_count", _NONNEG_INT)
        if bool((x0 > max_count).any()):
            raise AttackError(f"x_counts exceed max_count == {max_count}.")
    loss = _loss(loss_fn)
    n = len(x0)
    step = 1 if norm == "l1" else max_change
    with attack_mode(module) as m:
        eot = _resolve_eot(m, x0, eot_samples)
        adv = x0.clone()
        changed = torch.zeros_like(x0, dtype=torch.bool).flatten(1)
        rows = torch.arange(n, device=x0.device)
        for _ in range(k):
            g, out = _input_grad(m, adv, y_, loss, targeted, eot)
            active = ~_fooled(out, y_, targeted) if early_stop else torch.ones(
                n, dtype=torch.bool, device=x0.device)
            if not bool(active.any()):
                break
            flat = adv.flatten(1)
            gf = g.flatten(1)
            can_add = torch.ones_like(flat, dtype=torch.bool) if max_count is None else \
                flat < max_count
            can_del = flat >= 1
            if norm == "l0":
                can_add &= ~changed
                can_del &= ~changed
            add_amt = torch.full_like(flat, float(step)) if max_count is None else \
                torch.clamp(max_count - flat, max=step)
            del_amt = torch.clamp(flat, max=step)
            neg = torch.tensor(-math.inf, device=x0.device, dtype=flat.dtype)
            s_add = torch.where(can_add, gf * add_amt, neg)
            s_del = torch.where(can_del, -gf * del_amt, neg)
            scores = torch.cat([s_add, s_del], dim=1)
            if n_candidates > 1:
                kk = min(n_candidates, scores.shape[1])
                top = scores.topk(kk, dim=1)
                cand_idx = top.indices  # (n, kk)
                valid = torch.isfinite(top.values)
                trial = flat[:, None, :].repeat(1, kk, 1)
                pos = cand_idx % flat.shape[1]
                sign = torch.where(cand_idx < flat.shape[1], 1.0, -1.0).to(flat.dtype)
                amt = torch.where(sign > 0, add_amt.gather(1, pos), del_amt.gather(1, pos))
                trial.scatter_add_(2, pos[:, :, None], (sign * amt)[:, :, None])
                with torch.no_grad():
                    t_out = m(trial.reshape(n * kk, *x0.shape[1:]))
                    t_loss = F.cross_entropy(t_out, y_.repeat_interleave(kk), reduction="none") \
                        if loss_fn is None else torch.stack(
                            [loss(t_out[i:i + 1], y_.repeat_interleave(kk)[i:i + 1])
                             for i in range(n * kk)])
                t_loss = t_loss.view(n, kk) * (-1.0 if targeted else 1.0)
                t_loss = torch.where(valid, t_loss, neg)
                choice = cand_idx.gather(1, t_loss.argmax(1, keepdim=True)).squeeze(1)
                ok = valid.any(1)
            else:
                best_score, choice = scores.max(1)
                ok = torch.isfinite(best_score)
            apply = active & ok
            pos = choice % flat.shape[1]
            is_add = choice < flat.shape[1]
            amount = torch.where(is_add, add_amt[rows, pos], -del_amt[rows, pos])
            amount = torch.where(apply, amount, torch.zeros_like(amount))
            flat = flat.clone()
            flat[rows, pos] += amount
            changed[rows[apply], pos[apply]] = True
            adv = flat.view_as(x0)
    return _out(adv, x_in)


def count_linf_attack(model: Any, x_counts: Any, y: Any, *, eps: int, n_steps: int = 20,
                      step_size: float | None = None, max_count: int | None = None,
                      targeted: bool = False, loss_fn: Callable | None = None,
                      random_start: bool = False, generator: Any = None,
                      eot_samples: int | None = None) -> torch.Tensor:
    """L-inf attack on spike counts: relaxed PGD, then a feasible integer rounding.

    Every count may change by at most ``eps`` spikes and stays >= 0 (and <=
    ``max_count``). PGD runs on the continuous relaxation of that box; the result is
    rounded three ways (nearest, along the gradient's sign, and the all-unchanged input)
    and, per sample, the rounding with the highest loss is kept. All candidates lie in the
    integer box, so the budget holds exactly.

    Parameters
    ----------
    model, x_counts, y, max_count, targeted, loss_fn, eot_samples
        As in :func:`count_greedy_attack`.
    eps : int
        Spikes per entry, an integer >= 0.
    n_steps : int, default=20
    step_size : float, optional
        Default ``max(eps / 4, 0.25)``.
    random_start : bool, default=False
    generator : torch.Generator or int, optional

    Returns
    -------
    Tensor
        Integer counts with ``(x_adv - x).abs().max() <= eps``.

    Examples
    --------
    >>> torch.manual_seed(0); net = nn.Sequential(nn.Flatten(), nn.Linear(6, 2))  # doctest: +ELLIPSIS
    <...>
    >>> x = torch.randint(0, 4, (5, 2, 3)); y = torch.zeros(5, dtype=torch.long)
    >>> adv = count_linf_attack(net, x, y, eps=1)
    >>> bool((adv - x).abs().max() <= 1) and adv.dtype == x.dtype
    True
    """
    _check_counts(_as_input(x_counts, "x_counts"))
    module, x_in, x0, y_, _ = _prepare(model, x_counts, y, (0.0, None))
    e = _check(eps, "eps", _BUDGET)
    if e != int(e):
        raise AttackError(f"eps == {eps!r}: count budgets are whole spikes; use an integer.")
    e = int(e)
    n_steps = _check(n_steps, "n_steps", _NONNEG_INT)
    alpha = _check(step_size, "step_size", _BUDGET) if step_size is not None else max(e / 4, 0.25)
    lo = torch.clamp(x0 - e, min=0)
    hi = x0 + e
    if max_count is not None:
        max_count = _check(max_count, "max_count", _NONNEG_INT)
        if bool((x0 > max_count).any()):
            raise AttackError(f"x_counts exceed max_count == {max_count}.")
        hi = torch.clamp(hi, max=max_count)
    loss = _loss(loss_fn)
    gen = as_generator(generator)
    with attack_mode(module) as m:
        eot = _resolve_eot(m, x0, eot_samples)
        adv = x0.clone()
        if random_start and e > 0:
            adv = lo + _rand_like(x0, gen) * (hi - lo)
        g = torch.zeros_like(x0)
        for _ in range(n_steps):
            g, _ = _input_grad(m, adv, y_, loss, targeted, eot)
            with torch.no_grad():
                adv = torch.minimum(torch.maximum(adv + alpha * g.sign(), lo), hi)
        if n_steps == 0 or e == 0:
            return _out(adv.round().clamp(min=0), x_in) if e else _out(x0, x_in)
        g, _ = _input_grad(m, adv, y_, loss, targeted, eot)
        cands = [adv.round(), torch.where(g > 0, adv.ceil(), adv.floor()), x0]
        best, best_loss = None, None
        with torch.no_grad():
            for cnd in cands:
                cnd = torch.minimum(torch.maximum(cnd, lo), hi)
                out = m(cnd)
                per = F.cross_entropy(out, y_, reduction="none") if loss_fn is None else \
                    torch.stack([loss(out[i:i + 1], y_[i:i + 1]) for i in range(len(out))])
                per = -per if targeted else per
                if best is None:
                    best, best_loss = cnd, per
                else:
                    take = per > best_loss
                    best = torch.where(take.view(-1, *([1] * (x0.ndim - 1))), cnd, best)
                    best_loss = torch.maximum(per, best_loss)
    return _out(best, x_in)


# --------------------------------------------------------------------------- registry/classes
def _noise_attack(model: Any, x: Any, y: Any, *, eps: float, clip: Clip = (0.0, 1.0),
                  generator: Any = None, **_: Any) -> torch.Tensor:
    """``ATTACKS["gaussian"]``: :func:`spikedecode.robust.noise.gaussian_noise` of std
    ``eps``, clipped to ``clip`` (images in [0, 1] by default); ``model`` and ``y`` unused."""
    x_in = _as_input(x)
    e = _check(eps, "eps", _BUDGET)
    noisy = gaussian_noise(x_in, e, clip=_clip_pair(clip),
                           generator=as_generator(generator))
    return noisy.to(x_in.dtype) if x_in.is_floating_point() else noisy


def _lbfgs_untargeted(model: Any, x: Any, y: Any, **kwargs: Any) -> torch.Tensor:
    kwargs.pop("eps", None)
    return lbfgs_attack(model, x, None, y=y, **kwargs)


ATTACKS: dict[str, Callable[..., torch.Tensor]] = {
    "fgsm": fgsm,
    "bim": bim,
    "ifgsm": bim,
    "pgd": pgd,
    "pgd_l2": lambda model, x, y, **kw: pgd(model, x, y, norm="l2", **kw),
    "lbfgs": _lbfgs_untargeted,
    "gaussian": _noise_attack,
    "count_greedy": lambda model, x, y, *, eps, **kw: count_greedy_attack(
        model, x, y, k=int(eps), **kw),
    "count_linf": lambda model, x, y, *, eps, **kw: count_linf_attack(model, x, y, eps=eps,
                                                                        **kw),
}
"""Attacks by name, all callable as ``attack(model, x, y, eps=..., **kwargs)``.

``lbfgs`` is a minimum-norm attack that ignores ``eps`` (see
:func:`spikedecode.robust.evaluate.robustness_curve`); ``count_greedy`` reads ``eps`` as
the L1 budget ``k``.
"""


def get_attack(attack: Any) -> Callable[..., torch.Tensor]:
    """An attack function from a name of :data:`ATTACKS`, an :class:`Attack` or a callable.

    Parameters
    ----------
    attack : str or callable
        A key of :data:`ATTACKS` (``"fgsm"``, ``"pgd"``...), an :class:`Attack` or any
        ``attack(model, x, y, **kwargs)``.

    Returns
    -------
    callable
        ``attack(model, x, y, **kwargs) -> x_adv``.

    Examples
    --------
    >>> get_attack("fgsm") is fgsm
    True
    """
    if isinstance(attack, str):
        if attack not in ATTACKS:
            raise AttackError(f"attack == {attack!r}, must be one of {sorted(ATTACKS)} or a "
                              "callable attack(model, x, y, eps=...).")
        return ATTACKS[attack]
    if callable(attack):
        return attack
    raise SpikeDecodeTypeError(f"attack must be a name or a callable; got "
                               f"{type(attack).__name__}.")


class Attack:
    """Thin wrapper storing an attack's settings: ``Attack(**kw)(model, x, y, **override)``.

    Subclasses set ``function`` and ``domain`` (``"image"`` inputs in ``clip``, or
    ``"counts"``, non-negative integers).

    Parameters
    ----------
    **kwargs
        Settings of the attack function, stored; a call's own keywords override them.

    Examples
    --------
    >>> atk = FGSM(eps=0.1)
    >>> atk
    FGSM(eps=0.1)
    >>> net = nn.Linear(4, 2); x = torch.rand(3, 4)
    >>> atk(net, x, torch.tensor([0, 1, 0])).shape
    torch.Size([3, 4])
    """

    function: Callable[..., torch.Tensor] = staticmethod(fgsm)
    domain = "image"

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def __call__(self, model: Any, x: Any, y: Any, **override: Any) -> torch.Tensor:
        return type(self).function(model, x, y, **{**self.kwargs, **override})

    @property
    def name(self) -> str:
        """Lower-case class name."""
        return type(self).__name__.lower()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{type(self).__name__}({args})"


class FGSM(Attack):
    """:func:`fgsm` as an object.

    Parameters
    ----------
    **kwargs
        Settings of :func:`fgsm`, stored; a call's own keywords override them.

    Examples
    --------
    >>> FGSM(eps=0.1)
    FGSM(eps=0.1)
    """

    function = staticmethod(fgsm)


class BIM(Attack):
    """:func:`bim` as an object.

    Parameters
    ----------
    **kwargs
        Settings of :func:`bim`, stored; a call's own keywords override them.

    Examples
    --------
    >>> BIM(eps=0.1, n_steps=5)
    BIM(eps=0.1, n_steps=5)
    """

    function = staticmethod(bim)


class PGD(Attack):
    """:func:`pgd` as an object.

    Parameters
    ----------
    **kwargs
        Settings of :func:`pgd`, stored; a call's own keywords override them.

    Examples
    --------
    >>> PGD(eps=0.3, n_steps=40)
    PGD(eps=0.3, n_steps=40)
    """

    function = staticmethod(pgd)


class TargetedIFGSM(Attack):
    """:func:`targeted_ifgsm_mse` as an object (``y`` is the target).

    Parameters
    ----------
    **kwargs
        Settings of :func:`targeted_ifgsm_mse`, stored; a call's own keywords override them.

    Examples
    --------
    >>> TargetedIFGSM(step_size=0.01, n_steps=100)
    TargetedIFGSM(step_size=0.01, n_steps=100)
    """

    function = staticmethod(targeted_ifgsm_mse)


class LBFGS(Attack):
    """:func:`lbfgs_attack` as an object (``y`` is the target; ``None`` for untargeted).

    Parameters
    ----------
    **kwargs
        Settings of :func:`lbfgs_attack`, stored; a call's own keywords override them.

    Examples
    --------
    >>> LBFGS(max_iter=50)
    LBFGS(max_iter=50)
    """

    function = staticmethod(lbfgs_attack)


class GaussianNoiseAttack(Attack):
    """:func:`spikedecode.robust.noise.gaussian_noise` as an object (``eps`` is the sigma).

    Parameters
    ----------
    **kwargs
        Settings of the Gaussian noise attack (``eps``, ``clip``, ``generator``), stored; a call's own keywords override them.

    Examples
    --------
    >>> GaussianNoiseAttack(eps=0.1)
    GaussianNoiseAttack(eps=0.1)
    """

    function = staticmethod(_noise_attack)


class CountGreedy(Attack):
    """:func:`count_greedy_attack` as an object.

    Parameters
    ----------
    **kwargs
        Settings of :func:`count_greedy_attack`, stored; a call's own keywords override them.

    Examples
    --------
    >>> CountGreedy(k=3)
    CountGreedy(k=3)
    """

    function = staticmethod(count_greedy_attack)
    domain = "counts"


class CountLinf(Attack):
    """:func:`count_linf_attack` as an object.

    Parameters
    ----------
    **kwargs
        Settings of :func:`count_linf_attack`, stored; a call's own keywords override them.

    Examples
    --------
    >>> CountLinf(eps=2)
    CountLinf(eps=2)
    """

    function = staticmethod(count_linf_attack)
    domain = "counts"
