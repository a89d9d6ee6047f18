"""One parameter-validation layer for spikedecode (not public API).

Every estimator, :func:`spikedecode.training.train`, the attacks and the transforms check
their scalar settings here, so the same mistake raises the same exception with the same
message everywhere::

    max_epochs == 0, must be an integer >= 1.

The constraint objects mirror scikit-learn's ``Interval`` and ``StrOptions`` (same
``closed=`` semantics), which live in the private module
``sklearn.utils._param_validation``; spikedecode keeps its own small copies so that it
depends on public scikit-learn API only, and raises :class:`~spikedecode.errors.ConfigError`
(a ``ValueError``) instead of sklearn's ``InvalidParameterError``.

- :class:`Interval`: an integer or a finite real number within bounds;
- :class:`Options`: one of a fixed set of values (strings, usually);
- ``None`` in a constraint list: the value may be ``None``;
- :func:`check_param`: check one value, return it normalised (``int`` / ``float``);
- :func:`check_params`: check several attributes of an object (or keys of a mapping).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

from spikedecode.errors import ConfigError

__all__ = ["Interval", "Options", "check_clip", "check_param", "check_params"]


@dataclass(frozen=True)
class Interval:
    """Numbers of one kind between two bounds (mirrors sklearn's ``Interval``).

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
        ``Integral`` accepts Python and NumPy integers (not ``bool``); ``Real`` accepts
        any finite real number (integers included, ``bool``, ``nan`` and ``inf`` excluded)
        and 0-d arrays / tensors that convert with ``float()``.
    left, right : float or None
        The bounds; ``None`` means unbounded on that side.
    closed : {"left", "right", "both", "neither"}, default="left"
        Which bounds belong to the interval.

    Examples
    --------
    >>> from numbers import Integral, Real
    >>> Interval(Integral, 1, None).describe()
    'an integer >= 1'
    >>> Interval(Real, 0, 1, closed="neither").describe()
    'a finite number in (0, 1)'
    >>> Interval(Real, 0, None, closed="neither").contains(0.0)
    False
    """

    type: type
    left: float | None
    right: float | None
    closed: Literal["left", "right", "both", "neither"] = "left"

    def __post_init__(self) -> None:
        if self.type not in (Integral, Real):
            raise TypeError(f"Interval type must be numbers.Integral or numbers.Real; "
                            f"got {self.type!r}.")
        if self.closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed == {self.closed!r}, must be 'left', 'right', 'both' "
                             "or 'neither'.")
        if self.left is not None and self.right is not None and self.right < self.left:
            raise ValueError(f"Interval right bound {self.right} is below left {self.left}.")

    def convert(self, value: Any) -> int | float | None:
        """``value`` as ``int`` / ``float`` if it has the right kind, else ``None``."""
        if isinstance(value, (bool, str, bytes)):
            return None
        if self.type is Integral:
            return int(value) if isinstance(value, Integral) else None
        if not isinstance(value, Real) and not hasattr(value, "__float__"):
            return None
        try:
            v = float(value)
        except (TypeError, ValueError):
            return None
        return v if math.isfinite(v) else None

    def contains(self, value: Any) -> bool:
        """Whether ``value`` has the right kind and lies within the bounds."""
        v = self.convert(value)
        if v is None:
            return False
        left_in = self.closed in ("left", "both")
        right_in = self.closed in ("right", "both")
        if self.left is not None and (v < self.left or (v == self.left and not left_in)):
            return False
        return not (self.right is not None
                    and (v > self.right or (v == self.right and not right_in)))

    def describe(self) -> str:
        """The phrase used in error messages, e.g. ``'an integer >= 1'``."""
        kind = "an integer" if self.type is Integral else "a finite number"
        lo, hi = _fmt(self.left), _fmt(self.right)
        left_in = self.closed in ("left", "both")
        right_in = self.closed in ("right", "both")
        if self.left is None and self.right is None:
            return kind
        if self.right is None:
            return f"{kind} {'>=' if left_in else '>'} {lo}"
        if self.left is None:
            return f"{kind} {'<=' if right_in else '<'} {hi}"
        return f"{kind} in {'[' if left_in else '('}{lo}, {hi}{']' if right_in else ')'}"


def _fmt(bound: float | None) -> str:
    if bound is None:
        return ""
    return str(int(bound)) if float(bound).is_integer() and abs(bound) < 1e15 else repr(bound)


class Options:
    """One of a fixed set of values (mirrors sklearn's ``StrOptions``).

    Parameters
    ----------
    *values : hashable
        The allowed values, in the order the error message lists them.

    Examples
    --------
    >>> Options("raise", "pad").describe()
    "'raise' or 'pad'"
    >>> Options("raise", "pad").contains("drop")
    False
    """

    def __init__(self, *values: Any) -> None:
        if not values:
            raise ValueError("Options needs at least one allowed value.")
        self.values = tuple(values)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one of the options (``True`` never matches ``1``)."""
        for v in self.values:
            if isinstance(v, bool) != isinstance(value, bool):
                continue
            if isinstance(v, str) != isinstance(value, str):
                continue
            try:
                if bool(value == v):
                    return True
            except (TypeError, ValueError):
                continue
        return False

    def describe(self) -> str:
        """The phrase used in error messages, e.g. ``"'a', 'b' or 'c'"``."""
        return _or([repr(v) for v in self.values])

    def __repr__(self) -> str:
        return f"Options({', '.join(repr(v) for v in self.values)})"


def _or(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


Constraint = Interval | Options | None


def check_param(value: Any, name: str, constraints: Constraint | Iterable[Constraint], *,
                error: type[Exception] = ConfigError, hint: str = "") -> Any:
    """Check one setting against its constraints and return it normalised.

    Parameters
    ----------
    value : object
        The setting as given.
    name : str
        Its name, as the user spells it (``"max_epochs"``).
    constraints : Interval, Options, None or list of them
        The value passes if it satisfies any one of them (``None``: the value may be None).
    error : type, default=ConfigError
        The exception class to raise (a ConfigError subclass or ``AttackError``).
    hint : str, optional
        Extra advice appended to the message.

    Returns
    -------
    object
        ``int`` for an :class:`Interval` of integers, ``float`` for one of reals, else
        the value unchanged.

    Raises
    ------
    ConfigError
        ``"{name} == {value!r}, must be {description}."``

    Examples
    --------
    >>> from numbers import Integral
    >>> check_param(3, "batch_size", Interval(Integral, 1, None))
    3
    >>> check_param(0, "max_epochs", Interval(Integral, 1, None))
    Traceback (most recent call last):
    ...
    spikedecode.errors.ConfigError: max_epochs == 0, must be an integer >= 1.
    """
    items = [constraints] if constraints is None or isinstance(
        constraints, (Interval, Options)) else list(constraints)
    for c in items:
        if c is None:
            if value is None:
                return None
        elif c.contains(value):
            return c.convert(value) if isinstance(c, Interval) else value
    parts = ["None" if c is None else c.describe() for c in items]
    if None in items:  # "None" last reads best: "an integer >= 1 or None"
        parts = [p for p in parts if p != "None"] + ["None"]
    msg = f"{name} == {value!r}, must be {_or(parts)}."
    raise error(f"{msg} {hint}" if hint else msg)


def check_params(params: Any, constraints: Mapping[str, Constraint | Iterable[Constraint]],
                 *, error: type[Exception] = ConfigError) -> dict[str, Any]:
    """Check several settings: attributes of an estimator, or entries of a mapping.

    Parameters
    ----------
    params : object or Mapping
        Where the values are read from (``getattr`` / ``[]``).
    constraints : Mapping
        name -> constraint(s), as in :func:`check_param`; checked in this order.
    error : type, default=ConfigError

    Returns
    -------
    dict
        name -> normalised value.

    Examples
    --------
    >>> from numbers import Integral, Real
    >>> check_params({"lr": 0.1, "max_epochs": 5},
    ...              {"lr": Interval(Real, 0, None, closed="neither"),
    ...               "max_epochs": Interval(Integral, 1, None)})
    {'lr': 0.1, 'max_epochs': 5}
    """
    get = params.__getitem__ if isinstance(params, Mapping) else (
        lambda n: getattr(params, n))
    return {name: check_param(get(name), name, c, error=error)
            for name, c in constraints.items()}


def check_clip(clip: Any, *, error: type[Exception] = ConfigError, hint: str = ""
               ) -> tuple[float | None, float | None] | None:
    """A value range ``(low, high)`` (either side may be ``None``) as floats, or ``None``.

    Parameters
    ----------
    clip : pair or None
    error : type, default=ConfigError
    hint : str, optional
        Extra advice appended to the message, e.g. the usual ranges.

    Examples
    --------
    >>> check_clip((0, 1))
    (0.0, 1.0)
    >>> check_clip((1, 0))
    Traceback (most recent call last):
    ...
    spikedecode.errors.ConfigError: clip == (1, 0), low must be < high.
    """
    if clip is None:
        return None
    try:
        lo, hi = clip
        lo = None if lo is None else float(lo)
        hi = None if hi is None else float(hi)
    except (TypeError, ValueError) as err:
        msg = f"clip == {clip!r}, must be a pair (low, high) or None."
        raise error(f"{msg} {hint}" if hint else msg) from err
    if lo is not None and hi is not None and not lo < hi:
        raise error(f"clip == {clip!r}, low must be < high.")
    return lo, hi


def check_xy(X: Any, y: Any, groups: Any = None) -> tuple[Any, Any, Any]:
    """Decoder inputs as arrays, or a SpikeDecodeError naming what is wrong and the fix.

    ``X`` must be numeric and finite with one row per label; ``y`` one label per sample,
    none missing (``None``, NaN); ``groups`` one id per sample; at least one sample.
    Used at the entry of the evaluation functions, so a bad input fails before any fit.

    Examples
    --------
    >>> import numpy as np
    >>> X, y, g = check_xy(np.zeros((4, 2)), [0, 1, 0, 1])
    >>> check_xy(np.zeros((4, 2)), [0, 1, 0])
    Traceback (most recent call last):
    ...
    spikedecode.errors.SpikeDecodeValueError: X has 4 rows but y has 3 labels; pass one label per row of X (the same samples, in the same order).
    """
    import numpy as np

    from spikedecode.errors import LabelError, NotEnoughDataError, SpikeDecodeTypeError
    from spikedecode.errors import SpikeDecodeValueError as ValueErr

    Xa = np.asarray(X)
    ya = np.asarray(y)
    if ya.ndim != 1:
        ya = ya.reshape(-1) if ya.ndim == 2 and 1 in ya.shape else ya
    if Xa.dtype.kind not in "biuf":
        raise SpikeDecodeTypeError(
            f"X has dtype {Xa.dtype} ({'Python objects' if Xa.dtype == object else 'not numbers'}"
            "); decoders need numbers: convert with X.astype(float), and check for missing "
            "values or strings in it.")
    if len(Xa) != len(ya):
        raise ValueErr(f"X has {len(Xa)} rows but y has {len(ya)} labels; pass one label per "
                       "row of X (the same samples, in the same order).")
    if len(ya) == 0:
        raise NotEnoughDataError("X and y hold 0 samples (0 trials); there is nothing to "
                                 "decode: check the windows' labels and the selection.")
    if Xa.dtype.kind == "f":
        bad = ~np.isfinite(Xa)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(len(Xa), -1).any(axis=1))
            raise ValueErr(f"X holds {int(bad.sum())} NaN or infinite value(s), in "
                           f"{len(rows)} row(s) (first: row {int(rows[0])}); decoders need "
                           "finite numbers: drop those samples or fill them.")
    if ya.dtype == object:
        missing = [i for i, v in enumerate(ya.tolist()) if v is None or (
            isinstance(v, float) and math.isnan(v))]
        if missing:
            raise LabelError(f"y holds {len(missing)} missing label(s) (None or NaN; first at "
                             f"sample {missing[0]}); drop those samples or label them.")
    elif ya.dtype.kind == "f" and np.isnan(ya).any():
        n = int(np.isnan(ya).sum())
        raise LabelError(f"y holds {n} NaN label(s) (first at sample "
                         f"{int(np.flatnonzero(np.isnan(ya))[0])}); drop those samples or "
                         "label them.")
    ga = None
    if groups is not None:
        ga = np.asarray(groups)
        if len(ga) != len(ya):
            raise ValueErr(f"groups has {len(ga)} entries but y has {len(ya)} labels; pass "
                           "one trial id per sample.")
    return Xa, ya, ga
