"""Image models of the seed studies and their training through the one loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikedecode.datasets.images import load_digits
from spikedecode.errors import ConfigError, SpikeDecodeTypeError, SpikeDecodeValueError
from spikedecode.robust.models import (
    MLP,
    MNISTCNN,
    MODEL_NAMES,
    Ensemble,
    Net1,
    RandomCropFlip,
    ShallowMLP,
    SmallCNN,
    build_model,
    net1_loss,
    train_image_model,
)
from spikedecode.training import evaluate


@pytest.fixture(scope="module")
def digits():
    return load_digits(random_state=0)


@pytest.mark.parametrize("factory, shape", [
    (lambda: ShallowMLP(), (3, 1, 28, 28)),
    (lambda: ShallowMLP(batch_norm=False), (3, 784)),
    (lambda: MLP(), (3, 1, 28, 28)),
    (lambda: SmallCNN(), (3, 1, 28, 28)),
    (lambda: SmallCNN(in_channels=3, image_size=32), (3, 3, 32, 32)),
    (lambda: SmallCNN(image_size=28), (3, 784)),
    (lambda: MNISTCNN(), (3, 1, 28, 28)),
    (lambda: Net1(), (3, 1, 28, 28)),
])
def test_output_shapes(factory, shape):
    torch.manual_seed(0)
    net = factory().eval()
    x = torch.rand(shape, requires_grad=True)
    out = net(x)
    assert out.shape == (3, 10)
    # the logits depend on the input, and a gradient flows back to it and to the first layer
    assert not torch.allclose(out[0], out[1])
    out[:, 0].sum().backward()
    assert float(x.grad.abs().sum()) > 0
    first = next(p for p in net.parameters() if p.dim() > 1)
    assert first.grad is not None and float(first.grad.abs().sum()) > 0


def test_architectures_match_the_studies():
    shallow = ShallowMLP()
    hidden = dict(shallow.named_modules())["hidden"]
    assert isinstance(hidden[0], nn.Linear) and hidden[0].out_features == 2000
    assert isinstance(hidden[1], nn.BatchNorm1d) and isinstance(hidden[-1], nn.Sigmoid)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in ShallowMLP(batch_norm=False).modules())
    mlp = MLP()
    assert [b[0].out_features for b in mlp.hidden] == [1000, 1000, 1000]
    cnn = SmallCNN()
    convs = [m for m in cnn.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(16, (3, 3)), (32, (3, 3))]
    assert cnn.hidden[0].out_features == 1000
    mc = MNISTCNN()
    pools = [m.kernel_size for m in mc.modules() if isinstance(m, nn.MaxPool2d)]
    assert pools == [3, 2] and mc.hidden[0].out_features == 200
    n1 = Net1()
    assert len(n1.hidden) == 12 and all(isinstance(b[1], nn.ELU) for b in n1.hidden)
    assert n1.hidden[0][0].out_features == 200


def test_hidden_representation_hookable():
    net = ShallowMLP(n_in=64, hidden_size=30)
    seen = {}
    dict(net.named_modules())["hidden"].register_forward_hook(
        lambda m, i, o: seen.setdefault("h", o.detach()))
    net.eval()(torch.rand(4, 64))
    assert seen["h"].shape == (4, 30)
    assert float(seen["h"].min()) >= 0 and float(seen["h"].max()) <= 1  # sigmoid units


def test_net1_loss_and_proba():
    net = Net1(n_in=64, hidden_size=16, depth=3)
    x = torch.rand(5, 64)
    out = net(x)
    p = net.predict_proba(x)
    assert torch.allclose(p, torch.sigmoid(out)) and torch.equal(p.argmax(1), out.argmax(1))
    y = torch.tensor([0, 1, 2, 3, 4])
    target = torch.nn.functional.one_hot(y, 10).float()
    assert torch.allclose(net1_loss(out, y), nn.BCEWithLogitsLoss()(out, target))
    assert net.default_loss is net1_loss


def test_ensemble_averages_logits():
    a, b = MLP(n_in=4, hidden_layer_sizes=(3,)), MLP(n_in=4, hidden_layer_sizes=(5,))
    x = torch.rand(6, 4)
    assert torch.allclose(Ensemble([a, b])(x), (a(x) + b(x)) / 2)
    with pytest.raises(ConfigError):
        Ensemble([])
    with pytest.raises(SpikeDecodeTypeError):
        Ensemble([a, "b"])


def test_input_checks():
    with pytest.raises(SpikeDecodeValueError, match="expecting 784"):
        MLP()(torch.rand(2, 1, 8, 8))
    with pytest.raises(SpikeDecodeValueError, match="image_size=28"):
        SmallCNN()(torch.rand(2, 1, 8, 8))
    with pytest.raises(ConfigError, match="hidden_size"):
        ShallowMLP(hidden_size=0)
    with pytest.raises(ConfigError, match="activation"):
        MLP(activation="swish")


def test_build_model():
    for name in MODEL_NAMES:
        if name == "resnet20":
            pytest.importorskip("spikedecode.robust.resnet")
            net = build_model(name, image_shape=(3, 32, 32))
            assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
            continue
        net = build_model(name, image_shape=(1, 8, 8) if name != "mnist_cnn" else (1, 12, 12))
        side = 8 if name != "mnist_cnn" else 12
        assert net(torch.rand(2, 1, side, side)).shape == (2, 10)
    with pytest.raises(ConfigError, match="must be one of"):
        build_model("vgg")


def test_random_crop_flip_is_a_shift_or_flip():
    from types import SimpleNamespace

    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).reshape(2, 1, 5, 5) + 1
    state = SimpleNamespace(generator=torch.Generator().manual_seed(0))
    out = RandomCropFlip(padding=0, flip=True)(x, state)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    out = RandomCropFlip(padding=1, flip=False)(x, state)
    assert out.shape == x.shape
    # every non-zero value of a shifted image comes from the original, in order
    for i in range(2):
        vals = out[i][out[i] > 0]
        assert set(vals.tolist()) <= set(x[i].flatten().tolist())
        assert len(vals) >= 16  # at most one row and one column lost


def test_train_image_model_learns_digits(digits):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = SmallCNN(image_size=8, hidden_size=64)
    hist = train_image_model(net, digits, max_epochs=6, lr=3e-3, random_state=0, device="cpu",
                             patience=2, batch_size=64)
    assert "val_accuracy" in hist.epochs[-1]
    _, acc = evaluate(net, digits.test, device="cpu")
    assert acc > 0.85  # chance is 0.1


def test_train_net1_with_its_loss(digits):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = Net1(n_in=64, hidden_size=64, depth=3)
    train_image_model(net, digits, max_epochs=10, lr=3e-3, random_state=0, device="cpu")
    _, acc = evaluate(net, digits.test, loss=net1_loss, device="cpu")
    assert acc > 0.8


def test_train_image_model_sgd_cosine_augment(digits, tmp_path):
    net = MLP(n_in=64, hidden_layer_sizes=(32,))
    hist = train_image_model(net, digits, max_epochs=3, optimizer="sgd", lr=0.05,
                             schedule="cosine", weight_decay=1e-4,
                             transforms=[RandomCropFlip(padding=1, flip=False)],
                             random_state=0, device="cpu", checkpoint_dir=tmp_path)
    lrs = hist["lr"]
    assert lrs[0] > lrs[-1]
    assert (tmp_path / "last.safetensors").exists()
    with pytest.raises(SpikeDecodeTypeError, match="ImageData"):
        train_image_model(net, (digits.train[0], digits.train[1]))
