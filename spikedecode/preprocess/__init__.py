"""Preprocessing: Recording -> Binned -> Windows -> (X, y, groups), samplers and splitters.

See ``docs/preprocessing.md`` for the rules (bin edges, window labelling, leakage-safe
splitting) and the design choices behind them.
"""

from spikedecode.preprocess.behavior import (
    bin_behavior,
    check_behavior,
    check_target,
    make_behavior,
    select_series,
    target_windows,
)
from spikedecode.preprocess.binning import (
    bin_edges,
    bin_sessions,
    bin_spikes,
    count_dtype,
    n_bins_for,
)
from spikedecode.preprocess.counts import from_counts
from spikedecode.preprocess.events import epochs_table, event_windows
from spikedecode.preprocess.labels import (
    LATENT,
    STIMULUS,
    epoch_bins,
    label_windows,
    make_windows,
    trial_windows,
)
from spikedecode.preprocess.resample import (
    BlockedTimeSplit,
    BootstrapSampler,
    RandomOverSampler,
    RandomUnderSampler,
    balanced_bootstrap_indices,
    group_splits,
    grouped_validation_split,
    leakage_safe_cv,
)
from spikedecode.preprocess.windows import (
    check_windows,
    concat_days,
    sliding_windows,
    to_sequences,
    to_xy,
)

__all__ = [
    "bin_spikes",
    "bin_sessions",
    "bin_edges",
    "n_bins_for",
    "count_dtype",
    "sliding_windows",
    "to_xy",
    "to_sequences",
    "concat_days",
    "from_counts",
    "check_windows",
    "label_windows",
    "trial_windows",
    "epoch_bins",
    "make_windows",
    "STIMULUS",
    "LATENT",
    "RandomUnderSampler",
    "RandomOverSampler",
    "BootstrapSampler",
    "balanced_bootstrap_indices",
    "leakage_safe_cv",
    "group_splits",
    "grouped_validation_split",
    "BlockedTimeSplit",
    "event_windows",
    "epochs_table",
    "make_behavior",
    "check_behavior",
    "bin_behavior",
    "target_windows",
    "select_series",
    "check_target",
]
