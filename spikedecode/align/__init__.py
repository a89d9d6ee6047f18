"""Cross-day alignment: map days with different units into one common space.

Every aligner follows the :class:`~spikedecode.align.DayAligner` protocol
(``fit(days, y)``, ``adapt(X_new, y, day=...)``, ``transform(X, day=...)``); build one by
name with :func:`get_aligner`. The leakage-safe leave-one-day-out and cross-day
evaluations of aligners live in :mod:`spikedecode.evaluation` (``aligner=``). See
``docs/alignment.md``.
"""

from __future__ import annotations

from spikedecode.align._registry import ALIGNERS, get_aligner
from spikedecode.align.adversarial import AdversarialAligner, ConditionalAdversarialAligner
from spikedecode.align.base import (
    AlignmentWarning,
    BaseDayAligner,
    DayAligner,
    NoAlignment,
    determined_rank,
    matched_averages,
    procrustes,
)
from spikedecode.align.cca import CCAAligner, ProcrustesAligner
from spikedecode.align.distribution import DistributionAligner
from spikedecode.align.fa import FactorAnalysisStabilizer
from spikedecode.align.pca import PerDayPCA
from spikedecode.align.select import SelectedMapAligner, energy_distance

__all__ = [
    "ALIGNERS",
    "AdversarialAligner",
    "AlignmentWarning",
    "BaseDayAligner",
    "CCAAligner",
    "ConditionalAdversarialAligner",
    "DayAligner",
    "DistributionAligner",
    "FactorAnalysisStabilizer",
    "NoAlignment",
    "PerDayPCA",
    "ProcrustesAligner",
    "SelectedMapAligner",
    "determined_rank",
    "energy_distance",
    "get_aligner",
    "matched_averages",
    "procrustes",
]
