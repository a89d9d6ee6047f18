"""The aligner registry: names -> classes, and ``get_aligner``.

It lives apart from :mod:`spikedecode.align.base` so that the base module imports no
aligner (no import cycle between ``base`` and the aligners built on it).
"""

from __future__ import annotations

from typing import Any

from spikedecode.align.adversarial import AdversarialAligner, ConditionalAdversarialAligner
from spikedecode.align.base import BaseDayAligner, NoAlignment
from spikedecode.align.cca import CCAAligner, ProcrustesAligner
from spikedecode.align.distribution import DistributionAligner
from spikedecode.align.fa import FactorAnalysisStabilizer
from spikedecode.align.pca import PerDayPCA
from spikedecode.align.select import SelectedMapAligner
from spikedecode.errors import ConfigError

__all__ = ["ALIGNERS", "get_aligner"]

_REGISTRY: dict[str, type[BaseDayAligner]] = {
    "none": NoAlignment,
    "pca": PerDayPCA,
    "cca": CCAAligner,
    "procrustes": ProcrustesAligner,
    "fa": FactorAnalysisStabilizer,
    "adversarial": AdversarialAligner,
    "adversarial-cond": ConditionalAdversarialAligner,
    "distribution": DistributionAligner,
    "procrustes-select": SelectedMapAligner,
}

ALIGNERS: tuple[str, ...] = tuple(_REGISTRY)


def get_aligner(name: str, **kw: Any) -> BaseDayAligner:
    """Build an aligner by name.

    Parameters
    ----------
    name : {"none", "pca", "cca", "procrustes", "fa", "adversarial", "adversarial-cond", \
"distribution", "procrustes-select"}
        ``"adversarial"``, ``"distribution"`` and ``"procrustes-select"`` are label-free;
        ``"adversarial-cond"`` conditions its discriminator on the labels.
    **kw
        Parameters of the aligner (``n_components``, ``random_state``...).

    Returns
    -------
    BaseDayAligner

    Examples
    --------
    >>> get_aligner("cca", n_components=3).n_components
    3
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ConfigError(f"aligner name == {name!r}, must be one of {list(ALIGNERS)}.")
    cls = _REGISTRY[name.lower()]
    try:
        return cls(**kw)
    except TypeError as err:
        raise ConfigError(f"get_aligner({name!r}): {err}") from err
