"""Lazy imports of optional dependencies with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["attempt_import", "pyplot", "mpl"]

_EXTRA = {
    "pynwb": "nwb",
    "dask": "dask",
    "distributed": "dask",
    "zarr": "zarr",
    "nixio": "nix",
    "matplotlib": "plot",
    "pooch": "dev",
    "torchattacks": "dev",
}


def attempt_import(module: str, why: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install.

    Parameters
    ----------
    module : str
        Module name, e.g. ``"pynwb"``.
    why : str
        What it is needed for, quoted in the message.

    Examples
    --------
    >>> attempt_import("json", "testing").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        extra = _EXTRA.get(top)
        hint = f"pip install 'spikedecode[{extra}]'" if extra else f"pip install {top}"
        raise ImportError(f"{module} is needed {why} but is not installed; run: {hint}") from err


def pyplot() -> ModuleType:
    """``matplotlib.pyplot``, or an ImportError that names the ``plot`` extra.

    Every function of :mod:`spikedecode.plotting` gets pyplot through here, so that
    ``import spikedecode`` and everything but the figures work without matplotlib.

    Examples
    --------
    >>> hasattr(pyplot(), "subplots")
    True
    """
    return attempt_import("matplotlib.pyplot", "for the figures of spikedecode.plotting")


def mpl() -> ModuleType:
    """``matplotlib`` itself (colormaps), or an ImportError that names the ``plot`` extra.

    Examples
    --------
    >>> "tab10" in mpl().colormaps
    True
    """
    return attempt_import("matplotlib", "for the figures of spikedecode.plotting")
