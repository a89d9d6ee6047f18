"""spikedecode.robust: attack models and make them more robust.

Submodules: ``attacks`` (FGSM, BIM, PGD, L-BFGS, count-domain attacks), ``evaluate``
(robustness curves, gradient-masking checks), ``models`` (the seed studies'
architectures), ``spectral`` (1/n spectral regularizer), ``noise`` (noise injection,
randomized smoothing), ``hardneg`` (selective dropout), ``introspect`` (self-introspection).
Names are imported lazily from their submodule on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("attacks", "evaluate", "models", "resnet", "spectral", "noise", "hardneg",
               "introspect")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"spikedecode.robust.{name}")
    for sub in _SUBMODULES:
        try:
            mod = importlib.import_module(f"spikedecode.robust.{sub}")
        except ModuleNotFoundError as err:
            if err.name == f"spikedecode.robust.{sub}":
                continue
            raise
        if name in getattr(mod, "__all__", ()):
            return getattr(mod, name)
    raise AttributeError(f"module 'spikedecode.robust' has no attribute {name!r}")


def __dir__() -> list[str]:
    names = list(_SUBMODULES)
    for sub in _SUBMODULES:
        try:
            names += list(importlib.import_module(f"spikedecode.robust.{sub}").__all__)
        except ModuleNotFoundError:
            continue
    return sorted(set(names))
