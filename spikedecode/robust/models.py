"""Image classifiers of the seed studies, as plain ``nn.Module``\\ s returning logits.

Every model takes images ``(batch, C, H, W)`` (or already flat ``(batch, C*H*W)``) in
[0, 1] and flattens them itself where it needs to; none applies a softmax. They train with
the project's one loop (:func:`spikedecode.training.train`) through
:func:`train_image_model`, which uses the validation split for early stopping and model
selection and never looks at the test split.

========================  ===========================================================
model                     architecture
========================  ===========================================================
:class:`ShallowMLP`       784 -> 2,000 sigmoid (optional batch norm) -> 10
:class:`MLP`              784 -> 1,000 -> 1,000 -> 1,000 -> 10, ReLU
:class:`SmallCNN`         conv16 3x3 -> pool2 -> conv32 3x3 -> pool2 -> fc1000 -> 10
:class:`MNISTCNN`         conv32 3x3 -> pool3 -> conv64 3x3 -> pool2 -> fc200 -> 10
:class:`Net1`             12 x 200 ELU -> 10 sigmoid units (one-vs-rest BCE)
``resnet20``              pre-activation ResNet20 (:mod:`spikedecode.robust.resnet`)
:class:`Ensemble`         mean of the members' logits
========================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import ConfigError, SpikeDecodeTypeError, SpikeDecodeValueError

__all__ = [
    "ShallowMLP",
    "MLP",
    "SmallCNN",
    "MNISTCNN",
    "Net1",
    "Ensemble",
    "RandomCropFlip",
    "net1_loss",
    "train_image_model",
    "build_model",
    "MODEL_NAMES",
]


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def _forward_stack(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Flatten, run ``model.hidden`` (a ModuleList of blocks), then ``model.out``."""
    _check_features(model, x, model.n_in)
    h = _flat(x)
    for block in model.hidden:
        h = block(h)
    return model.out(h)


def _check_features(model: nn.Module, x: torch.Tensor, n_in: int) -> None:
    n = int(x[0].numel()) if x.ndim > 1 else 0
    if x.ndim < 2 or n != n_in:
        raise SpikeDecodeValueError(
            f"input of shape {tuple(x.shape)} has {n} features per sample, but "
            f"{type(model).__name__} is expecting {n_in} (n_in); build it with n_in={n}.")


class ShallowMLP(nn.Module):
    """One hidden layer of sigmoid units (the 1/n spectral-regularization study).

    Parameters
    ----------
    n_in : int, default=784
    hidden_size : int, default=2000
    n_classes : int, default=10
    batch_norm : bool, default=True
        Batch norm between the linear map and the sigmoid.

    Attributes
    ----------
    hidden : nn.Sequential
        Linear -> (BatchNorm1d) -> Sigmoid; its output is the hidden representation
        (hook it by name, ``dict(model.named_modules())["hidden"]``).
    out : nn.Linear
        The readout to logits.

    Examples
    --------
    >>> import torch
    >>> net = ShallowMLP(n_in=64, hidden_size=20)
    >>> net(torch.rand(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    """

    def __init__(self, n_in: int = 784, hidden_size: int = 2000, n_classes: int = 10,
                 batch_norm: bool = True) -> None:
        super().__init__()
        for name, v in (("n_in", n_in), ("hidden_size", hidden_size), ("n_classes", n_classes)):
            check_param(v, name, Interval(Integral, 1, None))
        self.n_in = n_in
        layers: list[nn.Module] = [nn.Linear(n_in, hidden_size)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_size))
        layers.append(nn.Sigmoid())
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(hidden_size, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        _check_features(self, x, self.n_in)
        return self.out(self.hidden(_flat(x)))


class MLP(nn.Module):
    """Fully connected ReLU network, by default 784-1000-1000-1000-10.

    Parameters
    ----------
    n_in : int, default=784
    hidden_layer_sizes : sequence of int, default=(1000, 1000, 1000)
    n_classes : int, default=10
    activation : {"relu", "sigmoid", "tanh", "elu"}, default="relu"
    batch_norm : bool, default=False
    dropout : float, default=0.0

    Attributes
    ----------
    hidden : nn.ModuleList
        One block (Linear -> [BN] -> activation -> [Dropout]) per hidden layer; the output
        of ``hidden[i]`` is the i-th hidden representation (names ``hidden.0``, ...).
    out : nn.Linear

    Examples
    --------
    >>> import torch
    >>> MLP(n_in=64, hidden_layer_sizes=(32, 16))(torch.rand(3, 64)).shape
    torch.Size([3, 10])
    """

    _ACT = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU}

    def __init__(self, n_in: int = 784, hidden_layer_sizes: Sequence[int] = (1000, 1000, 1000),
                 n_classes: int = 10, activation: str = "relu", batch_norm: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        check_param(n_in, "n_in", Interval(Integral, 1, None))
        check_param(n_classes, "n_classes", Interval(Integral, 1, None))
        check_param(activation, "activation", Options(*sorted(self._ACT)))
        check_param(dropout, "dropout", Interval(Real, 0, 1, closed="left"))
        self.n_in = n_in
        blocks = []
        prev = n_in
        for w in hidden_layer_sizes:
            check_param(w, "hidden_layer_sizes[i]", Interval(Integral, 1, None))
            layers: list[nn.Module] = [nn.Linear(prev, w)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(w))
            layers.append(self._ACT[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
            blocks.append(nn.Sequential(*layers))
            prev = w
        self.hidden = nn.ModuleList(blocks)
        self.out = nn.Linear(prev, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return _forward_stack(self, x)


class SmallCNN(nn.Module):
    """conv16 3x3 -> ReLU -> pool2 -> conv32 3x3 -> ReLU -> pool2 -> fc1000 -> ReLU -> fc.

    Convolutions are padded ("same"), so ``image_size`` 28 gives 32 x 7 x 7 features, 32
    gives 32 x 8 x 8 and 8 gives 32 x 2 x 2.

    Parameters
    ----------
    in_channels : int, default=1
    n_classes : int, default=10
    image_size : int, default=28
    hidden_size : int, default=1000

    Attributes
    ----------
    features : nn.Sequential
        The convolutional part.
    hidden : nn.Sequential
        Linear -> ReLU of the fully connected layer (the hidden representation).
    out : nn.Linear

    Examples
    --------
    >>> import torch
    >>> SmallCNN(image_size=8, hidden_size=32)(torch.rand(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, image_size: int = 28,
                 hidden_size: int = 1000) -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("n_classes", n_classes),
                        ("image_size", image_size), ("hidden_size", hidden_size)):
            check_param(v, name, Interval(Integral, 1, None))
        check_param(image_size, "image_size", Interval(Integral, 4, None),
                    hint="SmallCNN pools twice by 2.")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 2 // 2
        self.hidden = nn.Sequential(nn.Linear(32 * side * side, hidden_size), nn.ReLU())
        self.out = nn.Linear(hidden_size, n_classes)
        self.in_channels, self.image_size = in_channels, image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = _as_images(self, x)
        return self.out(self.hidden(_flat(self.features(x))))


def _as_images(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    c, s = model.in_channels, model.image_size
    if x.ndim == 2 and x.shape[1] == c * s * s:
        return x.reshape(-1, c, s, s)
    if x.ndim != 4 or x.shape[1] != c or x.shape[2] != s or x.shape[3] != s:
        raise SpikeDecodeValueError(
            f"input of shape {tuple(x.shape)}, but {type(model).__name__} is expecting "
            f"(batch, {c}, {s}, {s}) images (in_channels={c}, image_size={s}).")
    return x


class MNISTCNN(nn.Module):
    """The MNIST CNN of the selective-dropout study.

    conv32 3x3 -> ReLU -> max-pool 3 -> conv64 3x3 -> ReLU -> max-pool 2 -> fc200 -> ReLU
    -> fc. With 28x28 inputs the feature map is 64 x 4 x 4.

    Parameters
    ----------
    in_channels : int, default=1
    n_classes : int, default=10
    image_size : int, default=28
    dropout : float, default=0.0
        Dropout before the last layer.

    Examples
    --------
    >>> import torch
    >>> MNISTCNN()(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, image_size: int = 28,
                 dropout: float = 0.0) -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("n_classes", n_classes),
                        ("image_size", image_size)):
            check_param(v, name, Interval(Integral, 1, None))
        check_param(image_size, "image_size", Interval(Integral, 6, None),
                    hint="MNISTCNN pools by 3 then by 2.")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 3 // 2
        hidden: list[nn.Module] = [nn.Linear(64 * side * side, 200), nn.ReLU()]
        if dropout:
            hidden.append(nn.Dropout(dropout))
        self.hidden = nn.Sequential(*hidden)
        self.out = nn.Linear(200, n_classes)
        self.in_channels, self.image_size = in_channels, image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = _as_images(self, x)
        return self.out(self.hidden(_flat(self.features(x))))


def net1_loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One-vs-rest binary cross-entropy of sigmoid outputs, the loss :class:`Net1` trains with.

    Parameters
    ----------
    output : Tensor (batch, n_classes)
        Pre-sigmoid scores (what ``Net1.forward`` returns).
    y : Tensor (batch,)
        Class indices (turned into one-hot targets) or already float targets.

    Returns
    -------
    torch.Tensor
        The scalar loss (mean over the batch and the classes).

    Examples
    --------
    >>> import torch
    >>> float(net1_loss(torch.zeros(2, 3), torch.tensor([0, 1]))) > 0
    True
    """
    target = y if y.is_floating_point() else F.one_hot(y.long(), output.shape[1]).to(output.dtype)
    return F.binary_cross_entropy_with_logits(output, target)


class Net1(nn.Module):
    """Net1 of the self-introspection study: ``depth`` x ``hidden_size`` ELU, sigmoid outputs.

    ``forward`` returns the *pre-sigmoid* scores, so ``argmax`` is the prediction and the
    attacks' cross-entropy works unchanged; :meth:`predict_proba` applies the sigmoid. It
    is trained with one-vs-rest binary cross-entropy on one-hot targets
    (:func:`net1_loss`, the model's ``default_loss``, which :func:`train_image_model`
    picks up).

    Parameters
    ----------
    n_in : int, default=784
    hidden_size : int, default=200
    depth : int, default=12
        Number of hidden ELU layers.
    n_classes : int, default=10

    Examples
    --------
    >>> import torch
    >>> net = Net1(n_in=64, hidden_size=16, depth=3)
    >>> net.predict_proba(torch.rand(2, 64)).shape
    torch.Size([2, 10])
    """

    default_loss = staticmethod(net1_loss)

    def __init__(self, n_in: int = 784, hidden_size: int = 200, depth: int = 12,
                 n_classes: int = 10) -> None:
        super().__init__()
        for name, v in (("n_in", n_in), ("hidden_size", hidden_size), ("depth", depth),
                        ("n_classes", n_classes)):
            check_param(v, name, Interval(Integral, 1, None))
        self.n_in = n_in
        self.hidden = nn.ModuleList(
            nn.Sequential(nn.Linear(n_in if i == 0 else hidden_size, hidden_size), nn.ELU())
            for i in range(depth))
        self.out = nn.Linear(hidden_size, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return _forward_stack(self, x)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Sigmoid outputs (independent per class, not normalised)."""
        return torch.sigmoid(self.forward(x))


class Ensemble(nn.Module):
    """Average the logits of several models (members may be of different classes).

    Parameters
    ----------
    members : sequence of nn.Module
        Models mapping the same input to logits of the same shape.

    Examples
    --------
    >>> import torch
    >>> ens = Ensemble([MLP(n_in=4, hidden_layer_sizes=(3,)), MLP(n_in=4, hidden_layer_sizes=(5,))])
    >>> ens(torch.rand(2, 4)).shape
    torch.Size([2, 10])
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ConfigError("members == [], an Ensemble needs at least one model.")
        for i, m in enumerate(members):
            if not isinstance(m, nn.Module):
                raise SpikeDecodeTypeError(f"members[{i}] is a {type(m).__name__}, must be an "
                                           "nn.Module.")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.stack([m(x) for m in self.members]).mean(0)


class RandomCropFlip:
    """Data augmentation as a training input transform: random shifts and horizontal flips.

    Pads by ``padding`` (zeros), crops back at a random offset, flips half of the images
    left-right (the standard CIFAR-10 augmentation; use ``flip=False`` for digits). Uses the
    training loop's seeded generator, so runs are reproducible.

    Parameters
    ----------
    padding : int, default=4
    flip : bool, default=True

    Examples
    --------
    >>> import torch
    >>> from types import SimpleNamespace
    >>> tf = RandomCropFlip(padding=2)
    >>> tf(torch.rand(3, 1, 8, 8), SimpleNamespace(generator=torch.Generator())).shape
    torch.Size([3, 1, 8, 8])
    """

    train_only = True

    def __init__(self, padding: int = 4, flip: bool = True) -> None:
        padding = check_param(padding, "padding", Interval(Integral, 0, None))
        self.padding = padding
        self.flip = flip

    def __call__(self, x: torch.Tensor, state: Any) -> torch.Tensor:  # noqa: D102
        gen = getattr(state, "generator", None)
        n, _, h, w = x.shape
        p = self.padding
        if p:
            padded = F.pad(x, (p, p, p, p))
            dx = torch.randint(0, 2 * p + 1, (n,), generator=gen)
            dy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
            rows = (dy[:, None] + torch.arange(h)[None]).to(x.device)
            cols = (dx[:, None] + torch.arange(w)[None]).to(x.device)
            idx_n = torch.arange(n, device=x.device)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]
            x = x.permute(0, 3, 1, 2).contiguous()
        if self.flip:
            mask = (torch.rand(n, generator=gen) < 0.5).to(x.device)
            x = torch.where(mask[:, None, None, None], x.flip(3), x)
        return x


MODEL_NAMES = ("shallow_mlp", "mlp", "small_cnn", "mnist_cnn", "net1", "resnet20")


def build_model(name: str, *, image_shape: Sequence[int] = (1, 28, 28),
                n_classes: int = 10, **kwargs: Any) -> nn.Module:
    """Build one of :data:`MODEL_NAMES` for images of ``image_shape`` ``(C, H, W)``.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    image_shape : sequence of int, default=(1, 28, 28)
        ``(channels, height, width)`` of the inputs.
    n_classes : int, default=10
        Number of output classes.
    **kwargs
        Passed to the model's class.

    Returns
    -------
    torch.nn.Module
        The untrained model.

    Examples
    --------
    >>> build_model("small_cnn", image_shape=(1, 8, 8)).hidden[0].in_features
    128
    """
    c, h, w = (int(v) for v in image_shape)
    n_in = c * h * w
    if name == "shallow_mlp":
        return ShallowMLP(n_in=n_in, n_classes=n_classes, **kwargs)
    if name == "mlp":
        return MLP(n_in=n_in, n_classes=n_classes, **kwargs)
    if name == "net1":
        return Net1(n_in=n_in, n_classes=n_classes, **kwargs)
    if name in ("small_cnn", "mnist_cnn"):
        if h != w:
            raise ConfigError(f"image_shape == {tuple(image_shape)}: {name} needs square images.")
        cls = SmallCNN if name == "small_cnn" else MNISTCNN
        return cls(in_channels=c, n_classes=n_classes, image_size=h, **kwargs)
    if name == "resnet20":
        from spikedecode.robust.resnet import resnet20

        return resnet20(n_classes=n_classes, **kwargs)
    raise ConfigError(f"model == {name!r}, must be one of {MODEL_NAMES}.")


def train_image_model(model: nn.Module, data: Any, **train_kwargs: Any) -> Any:
    """Train ``model`` on ``data.train`` with ``data.val`` as validation data.

    A thin layer over :func:`spikedecode.training.train` (the project's one training loop):
    every keyword goes to it (``max_epochs``, ``lr``, ``optimizer="sgd"``, ``momentum``,
    ``schedule="cosine"``, ``weight_decay``, ``transforms=[RandomCropFlip()]``,
    ``loss_terms``, ``patience``, ``random_state``, ``checkpoint_dir``...). The loss
    defaults to the model's ``default_loss`` (``Net1``) or cross-entropy. The test split is
    never used.

    Parameters
    ----------
    model : nn.Module
    data : ImageData
        Or any object with ``.train`` and ``.val`` pairs.
    **train_kwargs
        Passed to :func:`~spikedecode.training.train`.

    Returns
    -------
    History

    Examples
    --------
    >>> from spikedecode.datasets.images import load_digits
    >>> data = load_digits(limit=200)
    >>> hist = train_image_model(MLP(n_in=64, hidden_layer_sizes=(32,)), data, max_epochs=2,
    ...                          random_state=0, device="cpu")
    >>> len(hist.epochs)
    2
    """
    from spikedecode.training import train

    if not hasattr(data, "train") or not hasattr(data, "val"):
        raise SpikeDecodeTypeError(f"data must be an ImageData (with .train and .val); got "
                                   f"{type(data).__name__}.")
    kwargs = dict(train_kwargs)
    kwargs.setdefault("loss", getattr(model, "default_loss", "cross_entropy"))
    val = data.val if data.val is not None and len(data.val[1]) else None
    kwargs.setdefault("val_data", val)
    return train(model, data.train, **kwargs)
