"""Evaluation: leakage-safe within-day scores, cross-day matrices, consistency."""

from __future__ import annotations

from spikedecode.evaluation.consistency import (
    BelowMajorityWarning,
    LeakageError,
    LeakageWarning,
    check_disjoint,
    condition_keys,
    consistency_score,
    cross_day_matrix,
    leave_one_day_out,
    prepare_days,
    run_tasks,
)
from spikedecode.evaluation.metrics import (
    METRICS,
    bootstrap_ci,
    confusion,
    cross_val_predictions,
    permutation_chance,
    resample_then_split_score,
    set_seed,
    within_day_scores,
)
from spikedecode.evaluation.regression import (
    block_bootstrap_ci,
    blocked_cross_val_predict,
    circular_shift_null,
    r2_per_output,
    regression_metrics,
    regression_scores,
    shuffled_kfold_score,
)
from spikedecode.evaluation.temporal import (
    cluster_test,
    cross_day_time_resolved,
    temporal_generalization,
    time_resolved_scores,
)

__all__ = [
    "METRICS",
    "BelowMajorityWarning",
    "LeakageError",
    "LeakageWarning",
    "check_disjoint",
    "bootstrap_ci",
    "condition_keys",
    "confusion",
    "consistency_score",
    "cross_day_matrix",
    "cross_val_predictions",
    "leave_one_day_out",
    "permutation_chance",
    "prepare_days",
    "resample_then_split_score",
    "run_tasks",
    "set_seed",
    "within_day_scores",
    "time_resolved_scores",
    "temporal_generalization",
    "cluster_test",
    "cross_day_time_resolved",
    "block_bootstrap_ci",
    "blocked_cross_val_predict",
    "circular_shift_null",
    "r2_per_output",
    "regression_metrics",
    "regression_scores",
    "shuffled_kfold_score",
]
