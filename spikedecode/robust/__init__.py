"""spikedecode.robust: attack models and make them more robust.

One module per topic:

- ``attacks``: FGSM, BIM, PGD, targeted I-FGSM, L-BFGS, count-domain attacks, the
  ``ATTACKS`` registry;
- ``evaluate``: ``accuracy``, robustness curves, gradient-masking checks, transfer attacks;
- ``models``: the seed studies' image architectures; ``resnet``: pre-activation ResNet20
  and its noisy variants (``noisy_resnet20``, ``EnResNet``);
- ``spectral``: the 1/n spectral regularizer (penalty and training-loop term);
  ``spectra``: covariance, eigenspectrum, power-law fit, effective dimension, sensitivity
  maps; ``jacobian``: Jacobian regularization; ``whitening``: the whitening control;
- ``noise``: noise transforms (input and hidden-layer noise, ``gaussian_noise``);
  ``smoothing``: prediction averaging and randomized smoothing (``certify``);
- ``hardneg``: activation volatility and selective dropout; ``introspect``:
  self-introspection.

Every public name is listed in ``__all__`` and maps to the one module that defines it
(``_LAZY``); the module is imported on first use of one of its names. The private modules
``_hooks`` (layer lookup, activation capture, the LSTM convention) and ``_utils`` (device,
tensor coercion, checks) are shared by them.

Examples
--------
>>> import spikedecode.robust as robust
>>> robust.certify.__module__
'spikedecode.robust.smoothing'
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    # attacks
    "fgsm": "spikedecode.robust.attacks",
    "bim": "spikedecode.robust.attacks",
    "ifgsm": "spikedecode.robust.attacks",
    "pgd": "spikedecode.robust.attacks",
    "targeted_ifgsm_mse": "spikedecode.robust.attacks",
    "lbfgs_attack": "spikedecode.robust.attacks",
    "count_greedy_attack": "spikedecode.robust.attacks",
    "count_linf_attack": "spikedecode.robust.attacks",
    "transfer_attack": "spikedecode.robust.evaluate",
    "TransferResult": "spikedecode.robust.evaluate",
    "attack_mode": "spikedecode.robust.attacks",
    "get_attack": "spikedecode.robust.attacks",
    "Attack": "spikedecode.robust.attacks",
    "FGSM": "spikedecode.robust.attacks",
    "BIM": "spikedecode.robust.attacks",
    "PGD": "spikedecode.robust.attacks",
    "TargetedIFGSM": "spikedecode.robust.attacks",
    "LBFGS": "spikedecode.robust.attacks",
    "GaussianNoiseAttack": "spikedecode.robust.attacks",
    "CountGreedy": "spikedecode.robust.attacks",
    "CountLinf": "spikedecode.robust.attacks",
    "ATTACKS": "spikedecode.robust.attacks",
    "DEFAULT_EOT_SAMPLES": "spikedecode.robust.attacks",
    # evaluate
    "accuracy": "spikedecode.robust.evaluate",
    "robustness_curve": "spikedecode.robust.evaluate",
    "check_gradient_masking": "spikedecode.robust.evaluate",
    "check_curve": "spikedecode.robust.evaluate",
    "MaskingReport": "spikedecode.robust.evaluate",
    # models
    "ShallowMLP": "spikedecode.robust.models",
    "MLP": "spikedecode.robust.models",
    "SmallCNN": "spikedecode.robust.models",
    "MNISTCNN": "spikedecode.robust.models",
    "Net1": "spikedecode.robust.models",
    "Ensemble": "spikedecode.robust.models",
    "RandomCropFlip": "spikedecode.robust.models",
    "net1_loss": "spikedecode.robust.models",
    "train_image_model": "spikedecode.robust.models",
    "build_model": "spikedecode.robust.models",
    "MODEL_NAMES": "spikedecode.robust.models",
    # resnet
    "PreActBlock": "spikedecode.robust.resnet",
    "PreActResNet": "spikedecode.robust.resnet",
    "resnet20": "spikedecode.robust.resnet",
    "NoisyResidualBlock": "spikedecode.robust.resnet",
    "noisy_resnet20": "spikedecode.robust.resnet",
    "EnResNet": "spikedecode.robust.resnet",
    "set_noise": "spikedecode.robust.resnet",
    # spectral
    "SmallBatchWarning": "spikedecode.robust.spectral",
    "SpectralRegularizer": "spikedecode.robust.spectral",
    "spectral_penalty": "spikedecode.robust.spectral",
    # spectra
    "layer_covariance": "spikedecode.robust.spectra",
    "eigenspectrum": "spikedecode.robust.spectra",
    "PowerLawFit": "spikedecode.robust.spectra",
    "fit_power_law": "spikedecode.robust.spectra",
    "effective_dimension": "spikedecode.robust.spectra",
    "sensitivity_map": "spikedecode.robust.spectra",
    # whitening
    "Whitening": "spikedecode.robust.whitening",
    "whiten": "spikedecode.robust.whitening",
    # jacobian
    "JacobianRegularizer": "spikedecode.robust.jacobian",
    "jacobian_penalty": "spikedecode.robust.jacobian",
    # noise
    "gaussian_noise": "spikedecode.robust.noise",
    "GaussianNoise": "spikedecode.robust.noise",
    "DataNoise": "spikedecode.robust.noise",
    "CountNoise": "spikedecode.robust.noise",
    "LayerNoise": "spikedecode.robust.noise",
    "matched_isotropic": "spikedecode.robust.noise",
    # smoothing
    "PredictionAverage": "spikedecode.robust.smoothing",
    "predict_average": "spikedecode.robust.smoothing",
    "smooth_predict": "spikedecode.robust.smoothing",
    "certify": "spikedecode.robust.smoothing",
    "CertifyResult": "spikedecode.robust.smoothing",
    "certified_accuracy": "spikedecode.robust.smoothing",
    "ABSTAIN": "spikedecode.robust.smoothing",
    # hardneg
    "ActivationRecorder": "spikedecode.robust.hardneg",
    "record_activations": "spikedecode.robust.hardneg",
    "unit_volatility": "spikedecode.robust.hardneg",
    "pairwise_unit_change": "spikedecode.robust.hardneg",
    "fooling_rate": "spikedecode.robust.hardneg",
    "perturbation_groups": "spikedecode.robust.hardneg",
    "split_groups": "spikedecode.robust.hardneg",
    "project_difference": "spikedecode.robust.hardneg",
    "dropout_schedule": "spikedecode.robust.hardneg",
    "select_units": "spikedecode.robust.hardneg",
    "SelectiveDropoutTrainer": "spikedecode.robust.hardneg",
    "hard_negative_report": "spikedecode.robust.hardneg",
    # introspect
    "hidden_layers": "spikedecode.robust.introspect",
    "record_hidden": "spikedecode.robust.introspect",
    "HiddenActivationHistory": "spikedecode.robust.introspect",
    "mmd": "spikedecode.robust.introspect",
    "InfoVAE": "spikedecode.robust.introspect",
    "classifier_error": "spikedecode.robust.introspect",
    "ErrorEstimator": "spikedecode.robust.introspect",
    "Introspector": "spikedecode.robust.introspect",
    "expected_activation": "spikedecode.robust.introspect",
    "reorder_units": "spikedecode.robust.introspect",
    "unit_selectivity": "spikedecode.robust.introspect",
    "constellation": "spikedecode.robust.introspect",
    "attack_trajectory": "spikedecode.robust.introspect",
    "detection_auroc": "spikedecode.robust.introspect",
}

_SUBMODULES = ("attacks", "evaluate", "models", "resnet", "spectral", "spectra", "whitening",
               "jacobian", "noise", "smoothing", "hardneg", "introspect")

__all__ = [*_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"spikedecode.robust.{name}")
    raise AttributeError(f"module 'spikedecode.robust' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_SUBMODULES))
