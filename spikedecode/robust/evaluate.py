"""Robustness curves and gradient-masking checks.

:func:`robustness_curve` evaluates a model's accuracy under one or several attacks at a
list of budgets and returns an ``xarray.DataArray`` with dims ``(eps, attack)``.
:func:`check_gradient_masking` runs the sanity checks of Athalye et al. (2018) and
Croce & Hein (2020, AutoAttack's flags) and warns with
:class:`~spikedecode.errors.GradientMaskingWarning` when an evaluation looks unreliable:
logits that change between identical calls, accuracy that does not reach ~0 at a very
large budget, a stronger attack doing worse than a weaker one, random noise in the ball
doing better than the gradient attack, accuracy that rises with the budget.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, NamedTuple

import numpy as np
import torch

from spikedecode._random import RandomStateLike, draw_seed, torch_generator
from spikedecode._validation import Interval, check_param
from spikedecode.errors import AttackError, GradientMaskingWarning, SpikeDecodeTypeError
from spikedecode.robust._utils import model_device
from spikedecode.robust.attacks import (
    Attack,
    _as_input,
    _as_labels,
    _module_of,
    attack_mode,
    get_attack,
    is_stochastic,
    lbfgs_attack,
)

__all__ = [
    "accuracy",
    "robustness_curve",
    "check_gradient_masking",
    "check_curve",
    "MaskingReport",
    "transfer_attack",
    "TransferResult",
]

_MIN_NORM = ("lbfgs",)


def accuracy(model: Any, x: Any, y: Any, *, batch_size: int = 1000) -> float:
    """Fraction of ``x`` classified as ``y`` (argmax of the outputs; eval mode, no gradients).

    The one accuracy of :mod:`spikedecode.robust` (attacks, hard negatives and the
    robustness curves use it). The model runs under :func:`~spikedecode.robust.attacks.\
attack_mode`, which restores every submodule's train/eval mode afterwards.

    Parameters
    ----------
    model : nn.Module or fitted estimator with ``module_``
    x : Tensor or array-like, shape (n, ...)
    y : Tensor or array-like
        Class indices ``(n,)`` or one-hot (or probability) rows ``(n, n_classes)``, whose
        argmax is the class.
    batch_size : int, default=1000

    Returns
    -------
    float

    Examples
    --------
    >>> net = torch.nn.Linear(2, 2)
    >>> 0.0 <= accuracy(net, torch.rand(10, 2), torch.zeros(10, dtype=torch.long)) <= 1.0
    True
    >>> x = torch.rand(10, 2)
    >>> accuracy(net, x, torch.eye(2)[net(x).argmax(1)])  # one-hot labels
    1.0
    """
    module = _module_of(model)
    x = _as_input(x)
    if (torch.is_tensor(y) or isinstance(y, np.ndarray)) and y.ndim == 2:
        y = y.argmax(1)  # one-hot rows
    y = _as_labels(y, len(x))
    dev = model_device(module)
    correct = 0
    with attack_mode(module) as m, torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(dev)
            if not xb.is_floating_point():
                xb = xb.float()
            correct += int((m(xb).argmax(1).cpu() == y[i:i + batch_size].cpu()).sum())
    return correct / len(x)


class TransferResult(NamedTuple):
    """Outcome of :func:`transfer_attack`.

    Attributes
    ----------
    x_adv : torch.Tensor
        The adversarial inputs crafted on the surrogate.
    surrogate_accuracy : float
        Accuracy of the surrogate on ``x_adv`` (white-box).
    target_accuracy : float
        Accuracy of the target on ``x_adv`` (the transferred, black-box attack).
    target_clean_accuracy : float
        Accuracy of the target on the clean inputs.
    """

    x_adv: torch.Tensor
    surrogate_accuracy: float
    target_accuracy: float
    target_clean_accuracy: float


def transfer_attack(surrogate: Any, target: Any, x: Any, y: Any, attack: Any = "pgd",
                    **kwargs: Any) -> TransferResult:
    """Black-box transfer: craft on ``surrogate``, evaluate on ``target``.

    Parameters
    ----------
    surrogate : nn.Module
        The model whose gradients are used (an oracle-trained substitute, or another
        architecture trained on the same data).
    target : nn.Module
        The attacked model; only its predictions are used.
    x, y : inputs and true labels.
    attack : str or callable, default="pgd"
        A name of :data:`ATTACKS` or ``attack(model, x, y, **kwargs)``.
    **kwargs
        Passed to the attack (``eps=...``).

    Returns
    -------
    TransferResult
        ``x_adv`` and the accuracies of the surrogate (white-box) and of the target
        (transfer), plus the target's clean accuracy.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> surrogate, target = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    >>> x = torch.rand(8, 4); y = target(x).argmax(1)
    >>> res = transfer_attack(surrogate, target, x, y, attack="fgsm", eps=0.1)
    >>> res.target_clean_accuracy, res.x_adv.shape
    (1.0, torch.Size([8, 4]))
    """
    fn = get_attack(attack)
    sur, tgt = _module_of(surrogate), _module_of(target)
    x_t = _as_input(x)
    y_t = _as_labels(y, len(x_t))
    x_adv = fn(sur, x_t, y_t, **kwargs)
    return TransferResult(x_adv, accuracy(sur, x_adv, y_t), accuracy(tgt, x_adv, y_t),
                          accuracy(tgt, x_t, y_t))


def _decoder_labels(y: Any, classes: Any) -> Any:
    """Map a fitted decoder's own labels (``classes_``) to the class indices of its logits.

    Labels take priority: ``y`` is mapped when every value is one of ``classes_``; else it
    must already hold indices ``0 .. n_classes - 1``.
    """
    if classes is None:
        return y
    classes = np.asarray(classes)
    arr = y.detach().cpu().numpy() if torch.is_tensor(y) else np.asarray(y)
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    values = arr.reshape(-1).tolist()
    if all(v in lookup for v in values):
        return np.asarray([lookup[v] for v in values], dtype=np.int64).reshape(arr.shape)
    if arr.dtype.kind in "iu" and arr.size and 0 <= arr.min() and arr.max() < classes.size:
        return arr
    unknown = sorted({str(v) for v in values if v not in lookup})[:5]
    raise AttackError(
        f"y holds labels {unknown} that the decoder does not know; its classes_ are "
        f"{classes.tolist()}. Pass the decoder's own labels or class indices 0.."
        f"{classes.size - 1}."
    )


def _xy(data: Any, split: str, limit: int | None, classes: Any = None
        ) -> tuple[torch.Tensor, torch.Tensor, str]:
    if hasattr(data, "train") and hasattr(data, "test"):
        x, y = getattr(data, split)
        name = getattr(data, "name", "")
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
        name = ""
    else:
        raise SpikeDecodeTypeError(f"data must be an ImageData or an (x, y) pair; got "
                                   f"{type(data).__name__}.")
    x = _as_input(x)
    y = _as_labels(_decoder_labels(y, classes), len(x))
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y, name


def _attack_items(attack: Any) -> list[tuple[str, Any]]:
    if isinstance(attack, Mapping):
        return [(str(k), v) for k, v in attack.items()]
    if isinstance(attack, (str, Attack)) or callable(attack):
        attack = [attack]
    items = []
    for a in attack:
        if isinstance(a, str):
            items.append((a, a))
        elif isinstance(a, Attack):
            items.append((a.name, a))
        elif callable(a):
            items.append((getattr(a, "__name__", type(a).__name__), a))
        else:
            raise SpikeDecodeTypeError(f"attack entries must be names or callables; got "
                                       f"{type(a).__name__}.")
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise AttackError(f"attack names {names} are not unique; pass a dict name -> attack.")
    return items


def _accepts(fn: Callable, name: str, strict: bool = False) -> bool:
    """Whether ``fn`` takes keyword ``name`` (``strict``: a ``**kwargs`` counts as yes)."""
    if isinstance(fn, Attack):
        fn = type(fn).function
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return strict
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def robustness_curve(model: Any, data: Any, attack: Any = "pgd",
                     eps: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3), *,
                     split: str = "test", limit: int | None = None, batch_size: int = 500,
                     clip: tuple[float | None, float | None] | None = (0.0, 1.0),
                     attack_kwargs: Mapping[str, Any] | None = None,
                     random_state: RandomStateLike = None, progress: bool = False) -> Any:
    """Accuracy of ``model`` under ``attack`` at each budget in ``eps``.

    Parameters
    ----------
    model : nn.Module or fitted estimator with ``module_``
        A fitted decoder's ``classes_`` map its own labels to logit indices.
    data : ImageData or (x, y)
        With an ImageData, the ``split`` split is used (default the test split). ``y``
        holds class indices, or, with a fitted decoder, its own labels (e.g. strings).
    attack : str, callable, Attack, or a list/dict of them, default="pgd"
        Names of :data:`~spikedecode.robust.attacks.ATTACKS` (``"fgsm"``, ``"pgd"``,
        ``"bim"``, ``"lbfgs"``, ``"gaussian"``...) or ``attack(model, x, y, eps=...)``.
    eps : sequence of float
        Budgets; ``0`` gives the clean accuracy without calling the attack.
    split : {"test", "val", "train"}, default="test"
    limit : int, optional
        Evaluate on the first ``limit`` samples only.
    batch_size : int, default=500
    clip : (low, high) or None, default=(0.0, 1.0)
        The input domain every attack that takes ``clip`` projects onto: ``(0, 1)`` for
        images, ``(0, None)`` for spike counts (count-valued decoders: counts are >= 0
        and unbounded above), None for no box. Inputs outside it raise
        :class:`~spikedecode.errors.AttackError`. An :class:`Attack` built with its own
        ``clip`` keeps it.
    attack_kwargs : dict, optional
        Extra keywords for every attack that accepts them (``n_steps``,
        ``step_size``...); the domain goes in ``clip``, not here.
    random_state : int, Generator or None, default=None
        Seeds the random starts (attacks that take a ``generator``).
    progress : bool, default=False
        tqdm bar over (attack, eps) pairs.

    Returns
    -------
    xarray.DataArray
        ``accuracy`` with dims ``(eps, attack)``; attrs ``n_samples``, ``dataset``,
        ``model``, ``clip`` (as text). ``lbfgs`` is a minimum-norm attack: it runs once,
        and its accuracy at ``eps`` counts a sample as broken when L-BFGS found an
        adversarial whose L-inf size is <= eps.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.rand(20, 1, 2, 2); y = net(x).argmax(1)
    >>> curve = robustness_curve(net, (x, y), ["fgsm", "pgd"], eps=[0, 0.5],
    ...                          attack_kwargs={"n_steps": 3})
    >>> curve.dims, float(curve.sel(eps=0.0, attack="pgd"))
    (('eps', 'attack'), 1.0)

    Spike counts go with ``clip=(0, None)``:

    >>> counts = torch.poisson(torch.full((20, 1, 2, 2), 3.0))
    >>> y = net(counts).argmax(1)
    >>> c = robustness_curve(net, (counts, y), "fgsm", eps=[0, 1.0], clip=(0.0, None))
    >>> float(c.sel(eps=0.0, attack="fgsm")) >= float(c.sel(eps=1.0, attack="fgsm"))
    True
    """
    import xarray as xr

    module = _module_of(model)
    x, y, dname = _xy(data, split, limit, getattr(model, "classes_", None))
    eps_list = [check_param(e, "eps", Interval(Real, 0, None), error=AttackError) for e in eps]
    if not eps_list:
        raise AttackError("eps == [], must be a non-empty list of numbers >= 0.")
    items = _attack_items(attack)
    kw = dict(attack_kwargs or {})
    if "clip" in kw:
        raise AttackError(
            f"attack_kwargs has clip={kw['clip']!r}; pass robustness_curve(..., "
            f"clip={kw['clip']!r}) instead (one domain for every attack)."
        )
    kw["clip"] = clip
    seed = draw_seed(random_state)
    acc = np.full((len(eps_list), len(items)), np.nan)
    clean = accuracy(module, x, y, batch_size=batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items) * len(eps_list), desc="robustness", leave=False)
    for j, (_name, atk) in enumerate(items):
        if isinstance(atk, str) and atk in _MIN_NORM:
            acc[:, j] = _min_norm_curve(module, x, y, eps_list, batch_size, kw)
            if bar is not None:
                bar.update(len(eps_list))
            continue
        fn = get_attack(atk)
        wants_gen = _accepts(fn, "generator") if not isinstance(atk, str) else \
            atk in ("pgd", "pgd_l2", "gaussian", "count_linf")
        kw_j = {k: v for k, v in kw.items() if _accepts(fn, k, strict=True)}
        if isinstance(atk, Attack) and "clip" in atk.kwargs:
            kw_j.pop("clip", None)  # an Attack configured with its own domain keeps it
        for i, e in enumerate(eps_list):
            if e == 0:
                acc[i, j] = clean
            else:
                gen = torch_generator(seed + i)
                correct = 0
                for s in range(0, len(x), batch_size):
                    xb, yb = x[s:s + batch_size], y[s:s + batch_size]
                    extra = {"generator": gen} if wants_gen else {}
                    adv = fn(module, xb, yb, eps=e, **kw_j, **extra)
                    correct += int(accuracy(module, adv, yb, batch_size=batch_size) * len(yb)
                                   + 0.5)
                acc[i, j] = correct / len(x)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return xr.DataArray(
        acc, dims=("eps", "attack"),
        coords={"eps": eps_list, "attack": [n for n, _ in items]}, name="accuracy",
        attrs={"n_samples": len(x), "dataset": dname, "split": split,
               "model": type(module).__name__, "clean_accuracy": clean,
               "clip": str(clip)},
    )


def _min_norm_curve(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                    eps_list: list[float], batch_size: int, kw: Mapping[str, Any]) -> np.ndarray:
    lb_kw = {k: v for k, v in kw.items() if k in ("clip", "c_init", "c_search", "max_iter")}
    dist = []
    ok_all = []
    correct = []
    dev = model_device(module)
    for s in range(0, len(x), batch_size):
        xb, yb = x[s:s + batch_size], y[s:s + batch_size]
        with attack_mode(module) as m, torch.no_grad():
            pred = m(xb.to(dev).float()).argmax(1).cpu()
        adv, ok = lbfgs_attack(module, xb, None, y=yb, return_success=True, **lb_kw)
        dist.append((adv.float() - xb.float()).flatten(1).abs().amax(1).cpu())
        ok_all.append(ok.cpu())
        correct.append(pred == yb.cpu())
    d = torch.cat(dist)
    ok = torch.cat(ok_all)
    cor = torch.cat(correct)
    return np.array([float((cor & ~(ok & (d <= e))).float().mean()) for e in eps_list])


def check_curve(curve: Any, *, tol: float = 0.01, warn: bool = True) -> dict[str, bool]:
    """Flag attacks whose accuracy *rises* with eps by more than ``tol`` (a masking sign).

    Parameters
    ----------
    curve : xarray.DataArray
        Accuracy with dims ``(eps, attack)``, as from :func:`robustness_curve`.
    tol : float, default=0.01
        Rise in accuracy tolerated between consecutive budgets.
    warn : bool, default=True
        Also warn (``GradientMaskingWarning``) for each flagged attack.

    Returns
    -------
    dict
        attack name -> True when flagged.

    Examples
    --------
    >>> import xarray as xr
    >>> c = xr.DataArray([[0.9], [0.95]], dims=("eps", "attack"),
    ...                  coords={"eps": [0.0, 0.1], "attack": ["pgd"]})
    >>> check_curve(c, warn=False)
    {'pgd': True}
    """
    flags = {}
    c = curve.sortby("eps")
    for a in c["attack"].values:
        vals = c.sel(attack=a).values
        bad = bool(np.any(np.diff(vals) > tol))
        flags[str(a)] = bad
        if bad and warn:
            warnings.warn(f"accuracy under {a} rises with eps ({np.round(vals, 3).tolist()}): "
                          "the attack is not converging or gradients are masked; use more "
                          "steps, random restarts or EOT.", GradientMaskingWarning, stacklevel=2)
    return flags


@dataclass
class MaskingReport:
    """Result of :func:`check_gradient_masking`.

    Attributes
    ----------
    flags : dict of str -> bool
        ``stochastic_logits``, ``large_eps_not_zero``, ``weaker_beats_stronger``,
        ``noise_beats_gradient``; True means suspicious.
    accuracies : dict of str -> float
        The accuracies the checks were based on.
    """

    flags: dict[str, bool] = field(default_factory=dict)
    accuracies: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check was flagged."""
        return not any(self.flags.values())


def check_gradient_masking(model: Any, x: Any, y: Any, *, eps: float,
                           large_eps: float | None = None, clip: Any = (0.0, 1.0),
                           n_steps: int = 20, tol: float = 0.02, large_eps_tol: float = 0.1,
                           random_state: RandomStateLike = None, warn: bool = True
                           ) -> MaskingReport:
    """Sanity checks of an attack evaluation, after AutoAttack's flags.

    Checks, each a ``GradientMaskingWarning`` when it fails:

    * ``stochastic_logits``: two identical calls give different logits (evaluate with EOT,
      which the attacks do by default when this is detected);
    * ``large_eps_not_zero``: PGD at ``large_eps`` (default: the whole ``clip`` range)
      leaves accuracy above ``large_eps_tol``;
    * ``weaker_beats_stronger``: PGD (``n_steps``) leaves a higher accuracy than FGSM at
      ``eps`` (by more than ``tol``);
    * ``noise_beats_gradient``: random corners of the eps-ball (``x + eps * random
      signs``) leave a lower accuracy than PGD (by more than ``tol``).

    Parameters
    ----------
    model : nn.Module
    x, y : inputs and labels
    eps : float
        The budget of the evaluation being checked.
    large_eps : float, optional
        Default ``clip[1] - clip[0]`` (every image reachable), or ``10 * eps``.
    clip : (low, high), default=(0.0, 1.0)
    n_steps : int, default=20
    tol, large_eps_tol : float
    random_state : int, Generator or None, default=None
    warn : bool, default=True

    Returns
    -------
    MaskingReport
        The four flags and the accuracies they were computed from.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0); net = torch.nn.Linear(4, 3)  # doctest: +ELLIPSIS
    <...>
    >>> x = torch.rand(16, 4); y = net(x).argmax(1)
    >>> report = check_gradient_masking(net, x, y, eps=0.1, random_state=0, warn=False)
    >>> report.flags["stochastic_logits"]
    False
    """
    from spikedecode.robust.attacks import fgsm, pgd

    module = _module_of(model)
    x = _as_input(x)
    y = _as_labels(y, len(x))
    seed = draw_seed(random_state)
    lo, hi = (None, None) if clip is None else clip
    if large_eps is None:
        large_eps = float(hi - lo) if lo is not None and hi is not None else 10 * float(eps)
    report = MaskingReport()
    msgs = []
    report.flags["stochastic_logits"] = is_stochastic(module, x)
    if report.flags["stochastic_logits"]:
        msgs.append("the model's logits differ between two identical calls: attack it with "
                    "expectation over transformation (eot_samples > 1).")
    acc_f = accuracy(module, fgsm(module, x, y, eps=eps, clip=clip), y)
    acc_p = accuracy(module, pgd(module, x, y, eps=eps, n_steps=n_steps, clip=clip,
                                 generator=torch_generator(seed)), y)
    acc_big = accuracy(module, pgd(module, x, y, eps=large_eps, n_steps=n_steps, clip=clip,
                                   step_size=2.5 * large_eps / n_steps,
                                   generator=torch_generator(seed + 1)), y)
    g = torch_generator(seed + 2)
    signs = torch.randint(0, 2, x.shape, generator=g).to(x.dtype) * 2 - 1
    noisy = x.float() + eps * signs
    if clip is not None:
        noisy = torch.clamp(noisy, min=lo, max=hi)
    acc_n = accuracy(module, noisy, y)
    report.accuracies = {"clean": accuracy(module, x, y), "fgsm": acc_f, "pgd": acc_p,
                         "pgd_large_eps": acc_big, "random_sign_noise": acc_n,
                         "eps": float(eps), "large_eps": float(large_eps)}
    report.flags["large_eps_not_zero"] = acc_big > large_eps_tol
    if report.flags["large_eps_not_zero"]:
        msgs.append(f"PGD at eps={large_eps:g} leaves accuracy {acc_big:.3f} (> "
                    f"{large_eps_tol}); an unbounded attack should reach ~0.")
    report.flags["weaker_beats_stronger"] = acc_p > acc_f + tol
    if report.flags["weaker_beats_stronger"]:
        msgs.append(f"PGD ({acc_p:.3f}) is weaker than FGSM ({acc_f:.3f}) at eps={eps:g}.")
    report.flags["noise_beats_gradient"] = acc_n < acc_p - tol
    if report.flags["noise_beats_gradient"]:
        msgs.append(f"random noise in the eps-ball ({acc_n:.3f}) beats PGD ({acc_p:.3f}).")
    if warn:
        for msg in msgs:
            warnings.warn("possible gradient masking: " + msg, GradientMaskingWarning,
                          stacklevel=2)
    return report
