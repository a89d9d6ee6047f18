"""The one parameter-validation layer: the same mistake, the same error, everywhere."""

from __future__ import annotations

import re
from numbers import Integral, Real

import numpy as np
import pytest

from spikedecode._validation import Interval, Options, check_clip, check_param, check_params
from spikedecode.errors import AttackError, ConfigError

torch = pytest.importorskip("torch")


# ----------------------------------------------------------------------------- units
@pytest.mark.parametrize(
    ("constraint", "text"),
    [
        (Interval(Integral, 1, None), "an integer >= 1"),
        (Interval(Integral, None, 5, closed="right"), "an integer <= 5"),
        (Interval(Real, 0, None, closed="neither"), "a finite number > 0"),
        (Interval(Real, 0, 1, closed="left"), "a finite number in [0, 1)"),
        (Interval(Real, 0, 0.5, closed="neither"), "a finite number in (0, 0.5)"),
        (Interval(Real, 0, 1, closed="both"), "a finite number in [0, 1]"),
        (Options("raise", "pad"), "'raise' or 'pad'"),
        (Options("a", "b", "c"), "'a', 'b' or 'c'"),
    ],
)
def test_describe(constraint, text):
    assert constraint.describe() == text


@pytest.mark.parametrize(
    ("constraint", "inside", "outside"),
    [
        # bounds: closed side in, open side out; bool and float never pass as integers
        (Interval(Integral, 1, None), [1, np.int64(7)], [0, -3, 1.0, True, "2", None]),
        (Interval(Real, 0, 1, closed="left"), [0, 0.0, 0.999, np.float32(0.5)],
         [1, 1.0, -1e-9, float("nan"), "0.5", False]),
        (Interval(Real, 0, None), [0.0, 1e300, torch.tensor(2.0)], [float("inf"), -0.1]),
        (Interval(Real, 0, 1, closed="right"), [1.0, 1e-12], [0.0, 1.5]),
        (Options("auto", False), ["auto", False], ["Auto", 0, None, True]),
    ],
)
def test_contains(constraint, inside, outside):
    assert all(constraint.contains(v) for v in inside)
    assert not any(constraint.contains(v) for v in outside)


def test_check_param_normalises_and_allows_none():
    got = check_param(np.int64(3), "n", Interval(Integral, 1, None))
    assert got == 3 and type(got) is int
    got = check_param(2, "sigma", Interval(Real, 0, None))
    assert got == 2.0 and type(got) is float
    assert check_param(None, "patience", [Interval(Integral, 1, None), None]) is None
    assert check_param("pad", "mismatch", Options("raise", "pad")) == "pad"


@pytest.mark.parametrize(
    ("value", "constraints", "message"),
    [
        (0, Interval(Integral, 1, None), "n == 0, must be an integer >= 1."),
        (2.5, [Interval(Integral, 1, None), None], "n == 2.5, must be an integer >= 1 or None."),
        ("drop", Options("raise", "pad"), "n == 'drop', must be 'raise' or 'pad'."),
        (-1, Interval(Real, 0, None, closed="neither"), "n == -1, must be a finite number > 0."),
    ],
)
def test_check_param_message(value, constraints, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        check_param(value, "n", constraints)


def test_check_param_error_class_and_hint():
    with pytest.raises(AttackError, match=r"^eps == -1, must be a finite number >= 0\. Try 0\.$"):
        check_param(-1, "eps", Interval(Real, 0, None), error=AttackError, hint="Try 0.")


def test_check_params_reads_objects_and_mappings_in_order():
    class Est:
        lr = 0.1
        max_epochs = 0

    constraints = {"lr": Interval(Real, 0, None, closed="neither"),
                   "max_epochs": Interval(Integral, 1, None)}
    with pytest.raises(ConfigError, match="max_epochs == 0"):
        check_params(Est(), constraints)
    assert check_params({"lr": 1, "max_epochs": 2}, constraints) == {"lr": 1.0, "max_epochs": 2}


def test_check_clip():
    assert check_clip(None) is None
    assert check_clip((0, None)) == (0.0, None)
    with pytest.raises(ConfigError, match=r"clip == \(1, 0\), low must be < high"):
        check_clip((1, 0))
    with pytest.raises(AttackError, match=r"must be a pair \(low, high\) or None\. hint"):
        check_clip(3, error=AttackError, hint="hint")


def test_bad_interval_definitions():
    with pytest.raises(TypeError):
        Interval(float, 0, 1)
    with pytest.raises(ValueError):
        Interval(Real, 1, 0)
    with pytest.raises(ValueError):
        Interval(Real, 0, 1, closed="open")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- consistency
def _fit_decoder(name, **params):
    from spikedecode.decoders import LSTMDecoder, MLPDecoder, TorchClassifier

    cls = {"TorchClassifier": TorchClassifier, "MLPDecoder": MLPDecoder,
           "LSTMDecoder": LSTMDecoder}[name]
    X = np.random.default_rng(0).normal(size=(12, 3, 2)).astype(np.float32)
    y = np.arange(12) % 2
    kw = {"module": lambda shape, n: torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(6, n))} if name == "TorchClassifier" else {}
    cls(**kw, **params).fit(X, y)


def _fit_aligner(**params):
    from spikedecode.align import AdversarialAligner

    rng = np.random.default_rng(0)
    AdversarialAligner(n_components=2, **params).fit({0: rng.normal(size=(20, 3)),
                                                      1: rng.normal(size=(20, 3))})


def _train(**params):
    from spikedecode.training import train

    x = torch.zeros(8, 2)
    y = torch.zeros(8, dtype=torch.long)
    train(torch.nn.Linear(2, 2), (x, y), **params)


FITTERS = {
    "TorchClassifier": lambda **p: _fit_decoder("TorchClassifier", **p),
    "MLPDecoder": lambda **p: _fit_decoder("MLPDecoder", **p),
    "LSTMDecoder": lambda **p: _fit_decoder("LSTMDecoder", **p),
    "AdversarialAligner": _fit_aligner,
    "train": _train,
}


@pytest.mark.parametrize("owner", sorted(FITTERS))
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_epochs": 0}, "max_epochs == 0, must be an integer >= 1."),
        ({"max_epochs": 2.5}, "max_epochs == 2.5, must be an integer >= 1."),
        ({"batch_size": 0}, "batch_size == 0, must be an integer >= 1."),
        ({"lr": -1}, "lr == -1, must be a finite number > 0."),
    ],
)
def test_same_mistake_same_error(owner, params, message):
    # the check runs before any data is touched, so the message is exactly this one
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        FITTERS[owner](**params)


def test_negative_budget_attack_and_noise_transform():
    from spikedecode.robust.attacks import fgsm
    from spikedecode.robust.noise import GaussianNoise

    model = torch.nn.Linear(2, 2)
    x, y = torch.full((3, 2), 0.5), torch.zeros(3, dtype=torch.long)
    # AttackError is a ConfigError subclass: one except clause catches both
    with pytest.raises(ConfigError, match=r"^eps == -1, must be a finite number >= 0\.$") as info:
        fgsm(model, x, y, eps=-1)
    assert isinstance(info.value, AttackError)
    with pytest.raises(ConfigError, match=r"^sigma == -1, must be a finite number >= 0\.$"):
        GaussianNoise(sigma=-1)


@pytest.mark.parametrize("owner", ["TorchClassifier", "AdversarialAligner"])
def test_unknown_option(owner):
    params, message = ({"bootstrap": "bogus"},
                       "bootstrap == 'bogus', must be False, True, 'largest' or 'fold'.") \
        if owner == "TorchClassifier" else (
        {"init": "bogus"}, "init == 'bogus', must be 'auto', 'pca', 'matched', 'ot' or 'cca'.")
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        FITTERS[owner](**params)


# ----------------------------------------------------------------------------- migrated checks
def _lin():
    return torch.nn.Linear(2, 2)


def _xy():
    return torch.full((3, 2), 0.5), torch.zeros(3, dtype=torch.long)


def _migrated_cases():
    """(label, call, parameter name): each call passes one bad setting, everything else valid."""
    from spikedecode.datasets import simulate_touch_experiment
    from spikedecode.datasets.hippocampus import position_labels
    from spikedecode.io import read_many
    from spikedecode.preprocess.resample import BlockedTimeSplit, leakage_safe_cv
    from spikedecode.robust import (
        attacks,
        hardneg,
        introspect,
        models,
        noise,
        resnet,
        smoothing,
        spectra,
        spectral,
    )
    from spikedecode.robust.evaluate import robustness_curve

    x, y = _xy()
    acts = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    return [
        ("certify", lambda: smoothing.certify(_lin(), x, 0.5, n0=5, n=5, alpha=1.5), "alpha"),
        ("certify", lambda: smoothing.certify(_lin(), x, 0.0, n0=5, n=5), "sigma"),
        ("PredictionAverage", lambda: smoothing.PredictionAverage(_lin(), average="mean"),
         "average"),
        ("fit_power_law", lambda: spectra.fit_power_law(np.arange(20.0, 0, -1), n_min=2,
                                                        level=1.0), "level"),
        ("effective_dimension", lambda: spectra.effective_dimension([3.0, 1.0], threshold=0),
         "threshold"),
        ("spectral_penalty", lambda: spectral.spectral_penalty(acts, torch.eye(4), tau=5), "tau"),
        ("attack_mode", lambda: attacks.attack_mode(_lin(), mode="test").__enter__(), "mode"),
        ("pgd", lambda: attacks.pgd(_lin(), x, y, eps=0.1, norm="l3"), "norm"),
        ("lbfgs_attack", lambda: attacks.lbfgs_attack(_lin(), x, y=y, c_init=0), "c_init"),
        ("robustness_curve", lambda: robustness_curve(_lin(), (x, y), "fgsm", eps=[0.1, -1]),
         "eps"),
        ("mmd", lambda: introspect.mmd(acts, acts, kernel="gauss"), "kernel"),
        ("InfoVAE", lambda: introspect.InfoVAE(n_components=0).fit(acts.numpy()),
         "n_components"),
        ("InfoVAE", lambda: introspect.InfoVAE(kl_weight=-1).fit(acts.numpy()), "kl_weight"),
        ("dropout_schedule", lambda: hardneg.dropout_schedule([0, 1], p0=0, decay=1), "p0"),
        ("select_units", lambda: hardneg.select_units([1.0, 2.0], 0.5, selection="most"),
         "selection"),
        ("split_groups", lambda: hardneg.split_groups([0, 1, 2], test_size=1), "test_size"),
        ("perturbation_groups", lambda: hardneg.perturbation_groups([1], [2], by="pair"), "by"),
        ("classifier_error", lambda: introspect.classifier_error([[0.0, 1.0]], [1],
                                                                 output="softmax"), "output"),
        ("expected_activation", lambda: introspect.expected_activation(
            introspect.Introspector(), method="mean"), "method"),
        ("MLP", lambda: models.MLP(4, 2, dropout=1.0), "dropout"),
        ("SmallCNN", lambda: models.SmallCNN(image_size=3), "image_size"),
        ("RandomCropFlip", lambda: models.RandomCropFlip(padding=-1), "padding"),
        ("DataNoise", lambda: noise.DataNoise(kind="gaussian"), "kind"),
        ("CountNoise", lambda: noise.CountNoise(kind="gaussian"), "kind"),
        ("PreActResNet", lambda: resnet.resnet20(n_classes=0), "n_classes"),
        ("simulate_touch_experiment", lambda: simulate_touch_experiment(n_days=0), "n_days"),
        ("simulate_touch_experiment", lambda: simulate_touch_experiment(unit_overlap=1.0),
         "unit_overlap"),
        ("position_labels", lambda: position_labels(None, None, n_classes=1), "n_classes"),
        ("read_many", lambda: read_many(".", errors="ignore"), "errors"),
        ("leakage_safe_cv", lambda: leakage_safe_cv(n_splits=1), "n_splits"),
        ("BlockedTimeSplit", lambda: next(BlockedTimeSplit(n_splits=3, gap=-1).split(
            np.zeros((12, 1)))), "gap"),
    ]


@pytest.mark.parametrize("case", range(len(_migrated_cases())),
                         ids=[c[0] for c in _migrated_cases()])
def test_migrated_checks_raise_config_error_naming_the_parameter(case):
    label, call, name = _migrated_cases()[case]
    with pytest.raises(ConfigError, match=rf"^{re.escape(name)} == .*, must be ") as info:
        call()
    # the library's own subclasses of ConfigError (AttackError) are fine; a builtin is not
    assert isinstance(info.value, ConfigError), label
