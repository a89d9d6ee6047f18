"""spikedecode: decode stimuli from spike recordings, compare days, and test robustness.

The flow (DESIGN.md §1): ``read`` a file into a Recording (an ``xarray.Dataset``),
``bin_spikes`` -> ``sliding_windows`` -> ``label_windows`` (or ``make_windows`` for the
three at once) -> ``to_xy`` / ``to_sequences`` -> a decoder (``make_decoder``,
``MLPDecoder``, ``LSTMDecoder``) -> evaluation (``within_day_scores``,
``cross_day_matrix``, ``leave_one_day_out``) through an aligner (``get_aligner``), and
:mod:`spikedecode.robust` for attacks and defences.

Heavy submodules are imported on first use of one of their names.

Examples
--------
>>> import spikedecode as sd
>>> exp = sd.simulate_touch_experiment(n_days=1, n_repeats=1, n_strokes=2, n_puffs=2,
...                                    random_state=0)
>>> w = sd.make_windows(exp[0], bin_size=0.005, n_bins=5)
>>> X, y, groups = sd.to_xy(w)
>>> X.shape[1] == 5 * exp[0].sizes["unit"]
True
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

from spikedecode._threads import default_wait_policy as _default_wait_policy
from spikedecode.errors import SpikeDecodeError, SpikeDecodeWarning
from spikedecode.recording import (
    check_recording,
    from_neo,
    from_spiketrains,
    make_recording,
    to_neo,
)

# idle OpenMP threads sleep instead of spinning on a shared machine, unless the user set
# OMP_WAIT_POLICY (spikedecode/_threads.py): before torch/scikit-learn load OpenMP
_default_wait_policy()

try:  # the one version source is pyproject.toml, read back from the installed metadata
    __version__: str = importlib.metadata.version("spikedecode")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_LAZY = {
    # io
    "read": "spikedecode.io",
    "write": "spikedecode.io",
    "read_many": "spikedecode.io",
    # preprocess
    "bin_spikes": "spikedecode.preprocess",
    "sliding_windows": "spikedecode.preprocess",
    "label_windows": "spikedecode.preprocess",
    "trial_windows": "spikedecode.preprocess",
    "make_windows": "spikedecode.preprocess",
    "to_xy": "spikedecode.preprocess",
    "to_sequences": "spikedecode.preprocess",
    "concat_days": "spikedecode.preprocess",
    "from_counts": "spikedecode.preprocess",
    "RandomUnderSampler": "spikedecode.preprocess",
    "RandomOverSampler": "spikedecode.preprocess",
    "BootstrapSampler": "spikedecode.preprocess",
    "leakage_safe_cv": "spikedecode.preprocess",
    "event_windows": "spikedecode.preprocess",
    # datasets
    "simulate_touch_experiment": "spikedecode.datasets",
    # decoders
    "make_decoder": "spikedecode.decoders",
    "TorchClassifier": "spikedecode.decoders",
    "MLPDecoder": "spikedecode.decoders",
    "LSTMDecoder": "spikedecode.decoders",
    "SlidingEstimator": "spikedecode.decoders",
    "GeneralizingEstimator": "spikedecode.decoders",
    # evaluation
    "within_day_scores": "spikedecode.evaluation",
    "cross_day_matrix": "spikedecode.evaluation",
    "leave_one_day_out": "spikedecode.evaluation",
    "consistency_score": "spikedecode.evaluation",
    "permutation_chance": "spikedecode.evaluation",
    "bootstrap_ci": "spikedecode.evaluation",
    "time_resolved_scores": "spikedecode.evaluation",
    "temporal_generalization": "spikedecode.evaluation",
    # align
    "get_aligner": "spikedecode.align",
    "PerDayPCA": "spikedecode.align",
    "CCAAligner": "spikedecode.align",
    "ProcrustesAligner": "spikedecode.align",
    "FactorAnalysisStabilizer": "spikedecode.align",
    "AdversarialAligner": "spikedecode.align",
    # training
    "train": "spikedecode.training",
    # continuous targets (behaviour series, regressors, their evaluation)
    "make_behavior": "spikedecode.preprocess",
    "bin_behavior": "spikedecode.preprocess",
    "target_windows": "spikedecode.preprocess",
    "WienerFilterRegressor": "spikedecode.decoders",
    "WienerCascadeRegressor": "spikedecode.decoders",
    "KalmanFilterRegressor": "spikedecode.decoders",
    "PoissonBayesRegressor": "spikedecode.decoders",
    "regression_scores": "spikedecode.evaluation",
    # thread policy
    "thread_limits": "spikedecode._threads",
    "available_cpus": "spikedecode._threads",
}

_SUBPACKAGES = ("io", "preprocess", "datasets", "decoders", "evaluation", "align", "robust",
                "plotting", "training", "schema", "serialization", "recording", "errors")

__all__ = [
    "__version__",
    "SpikeDecodeError",
    "SpikeDecodeWarning",
    "make_recording",
    "from_spiketrains",
    "from_neo",
    "to_neo",
    "check_recording",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"spikedecode.{name}")
    raise AttributeError(f"module 'spikedecode' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_SUBPACKAGES))
