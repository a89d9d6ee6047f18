"""TorchClassifier, MLPDecoder, LSTMDecoder: training, splits, plug-ins, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikedecode.decoders import LSTMDecoder, MLPDecoder, TorchClassifier
from spikedecode.errors import ConfigError, NotEnoughDataError, SpikeDecodeValueError
from spikedecode.preprocess.resample import balanced_bootstrap_indices, grouped_validation_split
from spikedecode.training import Callback


def _seq(seed=0, n_trials=40, per=5, lag=4, units=6):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_trials), per)
    y = np.repeat(np.where(np.arange(n_trials) % 2, "LUM", "LBR"), per)
    X = rng.poisson(1.0, size=(len(y), lag, units)).astype(np.float32)
    X[y == "LUM", -1, 0] += 3.0  # signal at the last lag only
    return X, y, groups


FAST = dict(max_epochs=30, lr=0.02, batch_size=32, device="cpu")


def test_lstm_learns_last_lag_signal(global_random_seed):
    X, y, g = _seq(global_random_seed)
    clf = LSTMDecoder(hidden_size=8, num_layers=2, dropout=0.0, random_state=global_random_seed,
                      **FAST).fit(X, y, groups=g)
    assert clf.score(X, y) > 0.85
    assert clf.input_shape_ == (4, 6) and clf.n_features_in_ == 24
    assert list(clf.classes_) == ["LBR", "LUM"]
    assert isinstance(clf.module_, torch.nn.Module)
    assert clf.module_.lstm.num_layers == 2


def test_lstm_default_is_the_study_network_and_one_layer_an_option():
    X, y, g = _seq(0)
    study = LSTMDecoder(hidden_size=4, max_epochs=1, random_state=0, device="cpu").fit(X, y)
    assert study.module_.lstm.num_layers == 3 and study.module_.lstm.dropout == 0.2
    one = LSTMDecoder(num_layers=1, dropout=0.0, hidden_size=4, max_epochs=1,
                      random_state=0, device="cpu").fit(X, y)
    assert one.module_.lstm.num_layers == 1


def test_2d_input_with_n_lags_equals_3d():
    X, y, g = _seq(0)
    a = LSTMDecoder(hidden_size=6, num_layers=1, random_state=0, **FAST).fit(X, y, groups=g)
    b = LSTMDecoder(hidden_size=6, num_layers=1, random_state=0, n_lags=4, **FAST).fit(
        X.reshape(len(X), -1), y, groups=g)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X.reshape(len(X), -1)),
                               atol=1e-6)
    with pytest.raises(ConfigError, match="n_lags"):
        LSTMDecoder(n_lags=5, **FAST).fit(X.reshape(len(X), -1), y)


def test_2d_without_n_lags_is_length_one_sequence():
    X, y, _ = _seq(0)
    clf = MLPDecoder(hidden_layer_sizes=(8,), random_state=0, **FAST).fit(X.reshape(len(X), -1), y)
    assert clf.input_shape_ == (1, 24)


def test_reproducible_with_random_state():
    X, y, g = _seq(1)
    p1 = MLPDecoder(hidden_layer_sizes=(8,), dropout=0.3, random_state=3,
                    **FAST).fit(X, y, groups=g)
    p2 = MLPDecoder(hidden_layer_sizes=(8,), dropout=0.3, random_state=3,
                    **FAST).fit(X, y, groups=g)
    np.testing.assert_array_equal(p1.predict_proba(X), p2.predict_proba(X))
    state = torch.random.get_rng_state()
    MLPDecoder(hidden_layer_sizes=(8,), random_state=3, **FAST).fit(X, y)
    assert torch.equal(state, torch.random.get_rng_state())  # caller's RNG untouched


def test_grouped_validation_split_keeps_trials_whole(global_random_seed):
    _, y, g = _seq(global_random_seed)
    tr, va = grouped_validation_split(y, g, 0.2, random_state=global_random_seed)
    assert len(va) > 0 and set(g[tr]).isdisjoint(g[va])
    assert len(tr) + len(va) == len(y)


def test_early_stopping_uses_validation_and_restores_best():
    X, y, g = _seq(0)
    clf = MLPDecoder(hidden_layer_sizes=(32,), random_state=0, max_epochs=200, lr=0.05, patience=3,
                     validation_fraction=0.25, device="cpu").fit(X, y, groups=g)
    assert "val_loss" in clf.history_.epochs[0]
    assert clf.n_epochs_ < 200 and clf.history_.stopped_early
    vl = clf.history_["val_loss"]
    assert clf.history_.best_epoch == int(np.argmin(vl))


def test_bootstrap_balances_training_set():
    y = np.array(["a"] * 30 + ["b"] * 10)
    idx = balanced_bootstrap_indices(y, random_state=0)
    vals, counts = np.unique(y[idx], return_counts=True)
    assert counts.tolist() == [30, 30]
    X, yy, g = _seq(0)
    clf = LSTMDecoder(hidden_size=4, num_layers=1, bootstrap=True, random_state=0,
                      **FAST).fit(X, yy, groups=g)
    assert clf.history_.epochs[0]["n_samples"] == 2 * max(np.unique(
        yy[grouped_validation_split(yy, g, 0.1, random_state=np.random.RandomState(0)
                                    .randint(2**31 - 1))[0]], return_counts=True)[1])


def test_fold_sized_bootstrap_balances_at_the_folds_size():
    y = np.array(["a"] * 31 + ["b"] * 10 + ["c"] * 5)
    idx = balanced_bootstrap_indices(y, random_state=0, size="fold")
    vals, counts = np.unique(y[idx], return_counts=True)
    assert vals.tolist() == ["a", "b", "c"] and counts.tolist() == [15, 15, 15]
    with pytest.raises(ConfigError, match="size"):
        balanced_bootstrap_indices(y, size="median")
    X, yy, g = _seq(0)
    clf = LSTMDecoder(hidden_size=4, num_layers=1, bootstrap="fold", random_state=0,
                      **FAST).fit(X, yy, groups=g)
    tr, _ = grouped_validation_split(
        yy, g, 0.1, random_state=np.random.RandomState(0).randint(2**31 - 1))
    # both classes of the training part, each drawn len(tr) // 2 times
    assert clf.history_.epochs[0]["n_samples"] == 2 * (len(tr) // 2)
    with pytest.raises(ConfigError, match="bootstrap"):
        LSTMDecoder(bootstrap="yes", **FAST).fit(X, yy, groups=g)


def test_plugins_reach_the_training_loop():
    X, y, g = _seq(0)
    seen = {"term": 0, "tf": 0, "cb": 0}

    def term(state):
        seen["term"] += 1
        return 0.0 * state.output.sum()

    class Noise:
        train_only = True

        def __call__(self, x, state):
            seen["tf"] += 1
            return x + 0.0

    class CB(Callback):
        def on_epoch_end(self, state):
            seen["cb"] += 1

    clf = MLPDecoder(hidden_layer_sizes=(4,), max_epochs=2, loss_terms=(term,),
                     transforms=(Noise(),), callbacks=(CB(),), random_state=0,
                     device="cpu").fit(X, y, groups=g)
    assert seen["term"] > 0 and seen["tf"] > 0 and seen["cb"] == 2
    assert clf.n_epochs_ == 2


def test_warm_start_continues_training():
    X, y, g = _seq(0)
    clf = MLPDecoder(hidden_layer_sizes=(8,), warm_start=True, random_state=0, max_epochs=3,
                     lr=0.01, device="cpu", validation_fraction=0).fit(X, y)
    w1 = clf.module_.layers[0].weight.detach().clone()
    m1 = clf.module_
    clf.fit(X, y)
    assert clf.module_ is m1
    assert clf.history_.epochs[0]["train_loss"] < 1e9
    assert not torch.equal(w1, clf.module_.layers[0].weight)


def test_save_load_round_trip(tmp_path):
    X, y, g = _seq(0)
    clf = LSTMDecoder(hidden_size=6, num_layers=2, random_state=0, **FAST).fit(X, y, groups=g)
    path = clf.save(tmp_path / "dec")
    assert (tmp_path / "dec.safetensors").exists() and (tmp_path / "dec.json").exists()
    back = LSTMDecoder.load(path)
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert back.get_params()["hidden_size"] == 6
    assert TorchClassifier.load(path).__class__ is LSTMDecoder
    with pytest.raises(ConfigError, match="MLPDecoder"):
        MLPDecoder.load(path)


def test_torch_module_gives_logits_with_gradients():
    X, y, g = _seq(0)
    clf = MLPDecoder(hidden_layer_sizes=(8,), random_state=0, **FAST).fit(X, y, groups=g)
    net = clf.torch_module().eval()
    x = torch.tensor(X[:5].reshape(5, -1), requires_grad=True)
    out = net(x)
    out[:, 1].sum().backward()
    assert x.grad is not None and out.shape == (5, 2)
    np.testing.assert_allclose(torch.softmax(out, 1).detach().numpy(), clf.predict_proba(X[:5]),
                               atol=1e-5)


def test_input_errors():
    X, y, g = _seq(0)
    clf = MLPDecoder(hidden_layer_sizes=(4,), max_epochs=1, device="cpu").fit(X, y)
    with pytest.raises(SpikeDecodeValueError, match="expecting"):
        clf.predict(X[:, :3])
    with pytest.raises(NotEnoughDataError, match="1 class"):
        MLPDecoder(max_epochs=1).fit(X, np.array(["a"] * len(X)))
    with pytest.raises(ValueError, match="max_epochs"):
        MLPDecoder(max_epochs=0).fit(X, y)
    with pytest.raises(ConfigError, match="module is None"):
        TorchClassifier().fit(X, y)


def test_module_instance_is_copied():
    X, y, _ = _seq(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(24, 2))
    w0 = net[1].weight.detach().clone()
    clf = TorchClassifier(module=net, max_epochs=3, lr=0.05, random_state=0,
                          device="cpu").fit(X, y)
    assert torch.equal(net[1].weight, w0) and clf.module_ is not net


def _factory(input_shape, n_classes):
    return torch.nn.Sequential(torch.nn.Flatten(),
                               torch.nn.Linear(int(np.prod(input_shape)), n_classes))


def test_custom_factory_load_needs_explicit_module(tmp_path):
    X, y, _ = _seq(0)
    clf = TorchClassifier(module=_factory, max_epochs=2, random_state=0, device="cpu").fit(X, y)
    path = clf.save(tmp_path / "m")
    with pytest.raises(ConfigError, match="module="):
        TorchClassifier.load(path)  # never imports code named in a file outside spikedecode
    back = TorchClassifier.load(path, module=_factory)
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)


# the preset subclasses: their own network parameters, then TorchClassifier's training ones
_NETWORK_PARAMS = {MLPDecoder: ["hidden_layer_sizes", "dropout"],
                   LSTMDecoder: ["hidden_size", "num_layers", "dropout"]}


def _params(cls):
    import inspect

    return [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]


@pytest.mark.parametrize("cls", [MLPDecoder, LSTMDecoder])
def test_presets_keep_torch_classifier_training_signature_in_step(cls):
    import re

    training = [p for p in _params(TorchClassifier) if p.name not in ("module", "module_params")]
    own = _params(cls)
    n_net = len(_NETWORK_PARAMS[cls])
    assert [p.name for p in own[:n_net]] == _NETWORK_PARAMS[cls]
    assert list(cls._network_params) == _NETWORK_PARAMS[cls]  # what is routed to the network
    # same names, order, defaults, annotations and kind (keyword-only) as TorchClassifier
    assert [(p.name, p.default, p.annotation, p.kind) for p in own[n_net:]] == [
        (p.name, p.default, p.annotation, p.kind) for p in training]
    # __init__ stores every training parameter under its name (get_params reads it back)
    sentinels = {p.name: object() for p in training}
    got = cls(**sentinels).get_params(deep=False)
    assert all(got[k] is v for k, v in sentinels.items())
    # the docstring's shared line names exactly these parameters, in order
    doc = cls.__doc__.replace("\\\n", "")
    listed = re.search(r"\n\s*(max_epochs,[^\n]*)\n\s*As in :class:`~spikedecode\.decoders\."
                       r"TorchClassifier`", doc)
    assert listed is not None
    assert [s.strip() for s in listed.group(1).split(",")] == [p.name for p in training]


def test_mlp_save_load_restores_tuple_parameters(tmp_path):
    X, y, _ = _seq(0)
    clf = MLPDecoder(hidden_layer_sizes=(8, 4), max_epochs=2, random_state=0,
                     device="cpu").fit(X, y)
    back = MLPDecoder.load(clf.save(tmp_path / "mlp"))
    # JSON holds a list; the loaded estimator has the tuple it was built with
    assert back.get_params()["hidden_layer_sizes"] == (8, 4)
    assert isinstance(back.hidden_layer_sizes, tuple)
    assert [m.out_features for m in back.module_.layers if isinstance(m, torch.nn.Linear)] == [
        8, 4, 2]
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_warm_start_rebuilds_when_classes_change():
    X, y, _ = _seq(0)
    clf = MLPDecoder(hidden_layer_sizes=(4,), warm_start=True, max_epochs=1, random_state=0,
                     device="cpu", validation_fraction=0).fit(X, y)
    m1 = clf.module_
    clf.fit(X, np.where(y == "LUM", "x", "y"))
    assert clf.module_ is not m1 and list(clf.classes_) == ["x", "y"]


def test_load_names_a_parameter_the_class_does_not_take(tmp_path):
    import json

    X, y, _ = _seq(0)
    path = MLPDecoder(hidden_layer_sizes=(4,), max_epochs=1, random_state=0,
                      device="cpu").fit(X, y).save(tmp_path / "old")
    cfg_file = tmp_path / "old.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["params"]["hidden_sizes"] = cfg["params"].pop("hidden_layer_sizes")  # pre-rename file
    cfg_file.write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=r"\['hidden_sizes'\].*hidden_layer_sizes"):
        MLPDecoder.load(path)


# --- presets over TorchClassifier(module=<name>), explicit validation, input scaling ---------


@pytest.mark.parametrize("cls, name, net", [
    (MLPDecoder, "mlp", {"hidden_layer_sizes": (8,), "dropout": 0.1}),
    (LSTMDecoder, "lstm", {"hidden_size": 6, "num_layers": 2, "dropout": 0.1}),
])
def test_presets_are_torch_classifier_with_a_named_network(cls, name, net):
    X, y, g = _seq(0)
    a = cls(**net, random_state=0, **FAST).fit(X, y, groups=g)
    b = TorchClassifier(module=name, module_params=net, random_state=0, **FAST).fit(
        X, y, groups=g)
    # same network, same seed, same training: the same fitted model
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = TorchClassifier(module=name, random_state=0, **FAST)
    c.set_params(**{f"module__{k}": v for k, v in net.items()})  # skorch-style routing
    assert c.module_params == net
    with pytest.raises(ConfigError, match="network parameters"):
        cls().set_params(module__dropout=0.5)
    with pytest.raises(ConfigError, match="module == 'gru'"):
        TorchClassifier(module="gru", **FAST).fit(X, y)


def test_named_network_save_load(tmp_path):
    X, y, _ = _seq(0)
    clf = TorchClassifier(module="mlp", module_params={"hidden_layer_sizes": [5]},
                          random_state=0, **FAST).fit(X, y)
    back = TorchClassifier.load(clf.save(tmp_path / "named"))
    assert back.module == "mlp" and back.module_params == {"hidden_layer_sizes": [5]}
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_explicit_validation_set_is_used_and_accuracy_stopping_restores_best():
    X, y, g = _seq(0)
    Xv, yv, _ = _seq(1, n_trials=20)
    clf = MLPDecoder(hidden_layer_sizes=(16,), max_epochs=40, lr=0.05, patience=4,
                     early_stopping_metric="accuracy", random_state=0, device="cpu")
    clf.fit(X, y, groups=g, X_val=Xv, y_val=yv)
    # every sample of X is trained on (no split), and validation ran on the given set
    assert clf.history_.epochs[0]["n_samples"] == len(X)
    va = clf.history_["val_accuracy"]
    assert clf.history_.best_epoch == int(np.argmax(va))
    # the restored weights are the best epoch's: their accuracy on (Xv, yv) is its score
    # (the log is a float32 mean of 100 hits, so equal up to float32 rounding; a wrong
    # epoch would differ by at least 1/100)
    assert clf.score(Xv, yv) == pytest.approx(va[clf.history_.best_epoch], abs=1e-6)
    # on a validation set with swapped labels the logged accuracy is the complement
    flipped = np.where(yv == "LUM", "LBR", "LUM")
    clf2 = MLPDecoder(hidden_layer_sizes=(16,), max_epochs=3, lr=0.05, patience=None,
                      random_state=0, device="cpu").fit(X, y, X_val=Xv, y_val=flipped)
    clf3 = MLPDecoder(hidden_layer_sizes=(16,), max_epochs=3, lr=0.05, patience=None,
                      random_state=0, device="cpu").fit(X, y, X_val=Xv, y_val=yv)
    np.testing.assert_allclose(np.add(clf2.history_["val_accuracy"],
                                      clf3.history_["val_accuracy"]), 1.0, atol=1e-6)
    with pytest.raises(SpikeDecodeValueError, match="X_val and y_val"):
        clf.fit(X, y, X_val=Xv)
    with pytest.raises(SpikeDecodeValueError, match="labels"):
        clf.fit(X, y, X_val=Xv, y_val=np.full(len(Xv), "other"))
    with pytest.raises(ConfigError, match="early_stopping_metric"):
        MLPDecoder(early_stopping_metric="f1", **FAST).fit(X, y)


def test_input_scaling_is_fitted_on_the_training_part_only():
    from spikedecode._random import draw_seed

    X, y, g = _seq(2)
    clf = LSTMDecoder(hidden_size=4, validation_fraction=0.25, random_state=5, **FAST)
    clf.fit(X, y, groups=g)
    tr, va = grouped_validation_split(np.unique(y, return_inverse=True)[1], g, 0.25,
                                      random_state=draw_seed(5))
    assert len(va) > 0
    scale = clf.module_.input_scale
    # per unit over the training part's samples and lags (float32 sums vs float64: 1e-5)
    np.testing.assert_allclose(scale.mean.numpy(), X[tr].mean((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(scale.scale.numpy(), X[tr].std((0, 1)), rtol=1e-5)
    assert not np.allclose(scale.mean.numpy(), X.mean((0, 1)), rtol=1e-5)
    # an explicit validation set far off never enters the statistics
    Xv = X[:40] + 100.0
    m = MLPDecoder(hidden_layer_sizes=(4,), random_state=0, **FAST).fit(X, y, X_val=Xv,
                                                                         y_val=y[:40])
    np.testing.assert_allclose(m.module_.input_scale.mean.numpy(), X.mean((0, 1)), rtol=1e-5)
    # the statistics live in the module: raw inputs in, the estimator's predictions out
    logits = m.module_.eval()(torch.from_numpy(X[:5])).detach().numpy()
    np.testing.assert_array_equal(m.classes_[logits.argmax(1)], m.predict(X[:5]))
    off = MLPDecoder(hidden_layer_sizes=(4,), standardize=False, random_state=0, **FAST).fit(X, y)
    assert torch.equal(off.module_.input_scale.mean, torch.zeros(6))
    with pytest.raises(ConfigError, match="InputScale"):
        TorchClassifier(module=_factory, standardize=True, **FAST).fit(X, y)


def test_no_import_cycle_inside_decoders():
    """torch_estimator must not import its presets (the registry is _nets.NETWORKS)."""
    import ast
    from pathlib import Path

    import spikedecode.decoders as pkg

    root = Path(pkg.__file__).parent
    graph = {}
    for f in root.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    "spikedecode.decoders."):
                deps.add(node.module.rsplit(".", 1)[1])
        graph[f.stem] = deps

    def reaches(a, b, seen=()):
        return any(d == b or (d not in seen and reaches(d, b, (*seen, d)))
                   for d in graph.get(a, ()))

    assert graph["mlp"] == {"torch_estimator"} and graph["lstm"] == {"torch_estimator"}
    for mod in graph:
        if mod != "__init__":
            assert not reaches(mod, mod), f"import cycle through decoders/{mod}.py"


def test_file_saved_before_input_scaling_loads_as_identity(tmp_path):
    from safetensors.torch import load_file, save_file

    X, y, _ = _seq(0)
    clf = MLPDecoder(hidden_layer_sizes=(4,), standardize=False, random_state=0,
                     **FAST).fit(X, y)
    path = clf.save(tmp_path / "old")
    weights = tmp_path / "old.safetensors"
    state = {k: v for k, v in load_file(weights).items() if "input_scale" not in k}
    save_file(state, weights)  # what an older spikedecode wrote: no input_scale buffers
    back = MLPDecoder.load(path)
    assert torch.equal(back.module_.input_scale.scale, torch.ones(6))
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    save_file({**state, "stray.weight": torch.zeros(1)}, weights)
    with pytest.raises(ConfigError, match="stray.weight"):
        MLPDecoder.load(path)
