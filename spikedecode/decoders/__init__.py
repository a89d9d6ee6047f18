"""Decoders: linear pipelines with a grouped λ search, and torch models behind sklearn.

>>> from spikedecode.decoders import make_decoder, LSTMDecoder
>>> make_decoder("svm").steps[-1][1].kind
'svm'
"""

from __future__ import annotations

from spikedecode.decoders.bayes import PoissonBayesRegressor
from spikedecode.decoders.linear import (
    DEFAULT_LAMBDAS,
    GroupCVLinearClassifier,
    groups_fit_params,
    make_decoder,
)
from spikedecode.decoders.lstm import LSTMDecoder
from spikedecode.decoders.mlp import MLPDecoder
from spikedecode.decoders.recurrent import RecurrentRegressor
from spikedecode.decoders.regression import (
    DEFAULT_RIDGE_LAMBDAS,
    KalmanFilterRegressor,
    WienerCascadeRegressor,
    WienerFilterRegressor,
)
from spikedecode.decoders.temporal import GeneralizingEstimator, SlidingEstimator
from spikedecode.decoders.torch_estimator import TorchClassifier

__all__ = [
    "DEFAULT_LAMBDAS",
    "GroupCVLinearClassifier",
    "LSTMDecoder",
    "MLPDecoder",
    "TorchClassifier",
    "DEFAULT_RIDGE_LAMBDAS",
    "WienerFilterRegressor",
    "WienerCascadeRegressor",
    "KalmanFilterRegressor",
    "PoissonBayesRegressor",
    "RecurrentRegressor",
    "groups_fit_params",
    "make_decoder",
    "SlidingEstimator",
    "GeneralizingEstimator",
]
