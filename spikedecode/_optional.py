"""Lazy imports of optional dependencies with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["attempt_import"]

_EXTRA = {
    "pynwb": "nwb",
    "dask": "dask",
    "distributed": "dask",
    "zarr": "zarr",
    "nixio": "nix",
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
