"""Pre-activation ResNet20 for CIFAR-10 (He et al. 2016, "Identity mappings in deep residual
networks") and its noisy variants of the EnResNet study (Wang et al. 2019).

Three stages of three pre-activation basic blocks (16, 32, 64 channels), a 3x3 stem and a
global-average-pooled linear head: about 0.27 M parameters. Downsampling blocks use a 1x1
convolution shortcut taken from the pre-activated input (as in the EnResNet code), so the
network is a plain ``nn.Module`` mapping ``(batch, 3, 32, 32)`` images in [0, 1] to logits.

:class:`NoisyResidualBlock`, :func:`noisy_resnet20` and :class:`EnResNet` add Gaussian
noise of std ``a * std(x + F(x))`` after every residual block, kept on at test time, and an
ensemble averages its members' logits; :func:`set_noise` switches that noise on or off.

References
----------
.. [1] B. Wang, B. Yuan, Z. Shi, S. Osher. "ResNets Ensemble via the Feynman-Kac
   Formalism to Improve Natural and Robust Accuracies." NeurIPS 2019 (arXiv:1811.10745).

Examples
--------
>>> import torch
>>> net = resnet20(n_classes=10)
>>> net(torch.zeros(2, 3, 32, 32)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikedecode._validation import Interval, check_param
from spikedecode.errors import ConfigError, SpikeDecodeTypeError

__all__ = [
    "PreActBlock",
    "PreActResNet",
    "resnet20",
    "NoisyResidualBlock",
    "noisy_resnet20",
    "EnResNet",
    "set_noise",
]


class PreActBlock(nn.Module):
    """Pre-activation basic block: ``x + conv(relu(bn(conv(relu(bn(x))))))``.

    Parameters
    ----------
    in_planes : int
        Input channels.
    planes : int
        Output channels.
    stride : int, default=1
        Stride of the first convolution (2 halves the spatial size).

    Notes
    -----
    The residual sum is computed by :meth:`residual_sum`; subclasses (the noisy block of
    :mod:`spikedecode.robust.noise`) act on its output in :meth:`forward`.

    Examples
    --------
    >>> import torch
    >>> PreActBlock(16, 32, stride=2)(torch.zeros(1, 16, 8, 8)).shape
    torch.Size([1, 32, 4, 4])
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def residual_sum(self, x: torch.Tensor) -> torch.Tensor:
        """``x + F(x)`` (with the projection shortcut where the shape changes).

        Parameters
        ----------
        x : torch.Tensor (batch, channels, rows, cols)
            The block's input.

        Returns
        -------
        torch.Tensor
            The residual sum, before any noise or output activation.
        """
        out = F.relu(self.bn1(x))
        identity = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.residual_sum(x)


class PreActResNet(nn.Module):
    """Pre-activation ResNet for 32x32 images.

    Parameters
    ----------
    num_blocks : sequence of int, default=(3, 3, 3)
        Blocks per stage (ResNet20: 3, 3, 3; ResNet(6n+2) in general).
    n_classes : int, default=10
    block : callable, default=PreActBlock
        ``block(in_planes, planes, stride) -> nn.Module``; pass a factory to swap in a
        noisy block.
    widths : sequence of int, default=(16, 32, 64)
        Channels of the three stages.
    in_channels : int, default=3

    Examples
    --------
    >>> import torch
    >>> PreActResNet((1, 1, 1), n_classes=4)(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 4])
    """

    def __init__(self, num_blocks: Sequence[int] = (3, 3, 3), n_classes: int = 10,
                 block: Callable[..., nn.Module] = PreActBlock,
                 widths: Sequence[int] = (16, 32, 64), in_channels: int = 3) -> None:
        super().__init__()
        if len(num_blocks) != len(widths):
            raise ConfigError(f"num_blocks has {len(num_blocks)} stages but widths has "
                              f"{len(widths)}; give one width per stage.")
        check_param(n_classes, "n_classes", Interval(Integral, 1, None))
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        layers: list[nn.Module] = []
        in_planes = widths[0]
        for i, (n, w) in enumerate(zip(num_blocks, widths)):
            for j in range(int(n)):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(block(in_planes, w, stride))
                in_planes = w
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(in_planes)
        self.linear = nn.Linear(in_planes, int(n_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features (batch, widths[-1]).

        Parameters
        ----------
        x : torch.Tensor (batch, channels, rows, cols)
            Input images.

        Returns
        -------
        torch.Tensor (batch, widths[-1])
            The globally pooled features the classifier head reads.
        """
        out = self.layers(self.conv1(x))
        out = F.relu(self.bn(out))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.linear(self.features(x))


def resnet20(n_classes: int = 10, **kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet20 for CIFAR-10 (~0.27 M parameters).

    Parameters
    ----------
    n_classes : int, default=10
    **kwargs
        Passed to :class:`PreActResNet` (``block``, ``widths``, ``in_channels``).

    Returns
    -------
    PreActResNet

    Examples
    --------
    >>> round(count_parameters(resnet20()) / 1e6, 2)
    0.27
    """
    return PreActResNet((3, 3, 3), n_classes=n_classes, **kwargs)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``.

    Examples
    --------
    >>> from torch import nn
    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


# ----------------------------------------------------------------------------- noisy ResNets
def _fast_std(out: torch.Tensor, per_sample: bool) -> torch.Tensor:
    """Unbiased std of ``out`` per sample (broadcastable) or over the whole tensor.

    Computed from the mean and the L2 norm (one fused reduction each) instead of
    ``Tensor.std``, which is ~10x slower on CPU; stays differentiable.
    """
    z = out.reshape(len(out), -1) if per_sample else out.reshape(1, -1)
    n = z.shape[1]
    mean = z.mean(1)
    sq = torch.linalg.vector_norm(z, dim=1).square()
    var = ((sq - n * mean.square()) / max(n - 1, 1)).clamp_min(1e-12)
    std = var.sqrt()
    return std.reshape(-1, *([1] * (out.ndim - 1))) if per_sample else std.reshape(())


def _std_parts(out: torch.Tensor, per_sample: bool) -> tuple[torch.Tensor, torch.Tensor,
                                                                  torch.Tensor, int]:
    """``(mean, var_raw, std, n)`` per row of ``out`` viewed as ``(rows, n)``, as
    :func:`_fast_std` computes them (``std = sqrt(max(var_raw, 1e-12))``)."""
    z = out.reshape(len(out), -1) if per_sample else out.reshape(1, -1)
    n = z.shape[1]
    mean = z.mean(1)
    sq = torch.linalg.vector_norm(z, dim=1).square()
    var_raw = (sq - n * mean.square()) / max(n - 1, 1)
    return mean, var_raw, var_raw.clamp_min(1e-12).sqrt(), n


class _RelativeNoise(torch.autograd.Function):
    """``y = out + a * std(out) * e``, e ~ N(0, I) drawn here: the noisy block's noise.

    The same function, the same draws (``torch.randn_like(out)`` from the global
    generator) and the same gradient as the autograd graph of
    ``torch.addcmul(out, torch.randn_like(out), a * _fast_std(out, per_sample))`` — the
    gradient flows through the std too — with fewer passes over the activations and
    fewer temporaries. Per row (a sample, or the whole batch with ``per_sample=False``)
    of ``n`` values, with ``s = <g, e>`` and ``c = a * s / ((n - 1) * std)`` (0 where
    the variance was clamped, as ``clamp_min``'s gradient is):
    ``grad = g + c * (out - mean)``. It saves ``out`` and ``e``, as that graph does. The
    backward is written in differentiable operations, so ``create_graph=True`` (a
    Jacobian penalty, say) differentiates it exactly: the mean and std are then
    recomputed from ``out`` inside the graph.
    """

    @staticmethod
    def forward(ctx: Any, out: torch.Tensor, a: float, per_sample: bool) -> torch.Tensor:
        mean, var_raw, std, n = _std_parts(out, per_sample)
        noise = torch.randn_like(out)
        y = torch.addcmul(out, noise, (a * std).reshape(_row_shape(out, per_sample)))
        ctx.save_for_backward(out, noise, mean, var_raw, std)
        ctx.a, ctx.per_sample, ctx.n = a, per_sample, n
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        out, noise, mean, var_raw, std = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        if torch.is_grad_enabled():  # create_graph=True: the std's own graph is needed
            mean, var_raw, std, _ = _std_parts(out, ctx.per_sample)
        rows = len(out) if ctx.per_sample else 1
        s = torch.linalg.vecdot(g.reshape(rows, -1), noise.reshape(rows, -1), dim=1)
        c = ctx.a * s / (max(ctx.n - 1, 1) * std)
        c = torch.where(var_raw >= 1e-12, c, torch.zeros_like(c))
        shape = _row_shape(out, ctx.per_sample)
        c = c.reshape(shape)
        grad = torch.addcmul(g, out, c)
        grad = grad.sub_(c * mean.reshape(shape))
        return grad, None, None


def _row_shape(out: torch.Tensor, per_sample: bool) -> tuple[int, ...]:
    """Shape that broadcasts one value per row (sample, or the whole tensor) over ``out``."""
    return (-1, *([1] * (out.ndim - 1))) if per_sample else (1,) * out.ndim


def _relative_noise(out: torch.Tensor, a: float, per_sample: bool) -> torch.Tensor:
    """``out + a * std(out) * e`` with e ~ N(0, I) from the global generator.

    Without autograd (``torch.no_grad()``, or an ``out`` that needs no gradient) the
    draws are scaled and added in place in their own buffer; otherwise
    :class:`_RelativeNoise` keeps the exact gradient through the std.
    """
    if torch.is_grad_enabled() and out.requires_grad:
        return _RelativeNoise.apply(out, a, per_sample)
    _, _, std, _ = _std_parts(out.detach(), per_sample)
    noise = torch.randn_like(out)
    return noise.mul_((a * std).reshape(_row_shape(out, per_sample))).add_(out)


class NoisyResidualBlock(PreActBlock):
    """Pre-activation block followed by Gaussian noise of std ``a·std(x + F(x))``.

    The noise is on in train *and* eval mode (as in EnResNet) unless switched off with
    ``noise_on=False`` or :func:`set_noise`; the switch is part of ``state_dict()`` (the
    ``noise_flag`` buffer), so a saved model reloads with its noise on or off as saved. A
    plain :class:`PreActBlock` state_dict loads too, leaving the switch as it is. The std
    is taken per sample over (C, H, W) by default, so that a sample's prediction does not
    depend on its batch mates; ``per_sample=False`` uses the whole batch's std as the
    published code does. The std stays in the autograd graph.

    Parameters
    ----------
    in_planes, planes, stride : see :class:`~spikedecode.robust.resnet.PreActBlock`
    a : float, default=0.1
        Noise coefficient.
    per_sample : bool, default=True
    noise_on : bool, default=True
        Whether the block injects noise (also the ``noise_on`` attribute).

    Examples
    --------
    >>> import torch
    >>> blk = NoisyResidualBlock(4, 4, a=0.5).eval()
    >>> x = torch.randn(2, 4, 8, 8)
    >>> bool((blk(x) != blk(x)).any())
    True
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, a: float = 0.1,
                 per_sample: bool = True, noise_on: bool = True) -> None:
        super().__init__(in_planes, planes, stride)
        self.a = check_param(a, "a", Interval(Real, 0, None))
        self.per_sample = bool(per_sample)
        # the switch is a (bool) buffer, so state_dict() and safetensors carry it; forward
        # reads the Python copy, which avoids a device sync per block
        self.register_buffer("noise_flag", torch.tensor(bool(noise_on)))
        self._noise_on = bool(noise_on)

    @property
    def noise_on(self) -> bool:
        """Whether the block injects noise (saved in ``state_dict()`` as ``noise_flag``)."""
        return self._noise_on

    @noise_on.setter
    def noise_on(self, on: bool) -> None:
        self._noise_on = bool(on)
        self.noise_flag.fill_(self._noise_on)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        key = prefix + "noise_flag"
        has_flag = key in state_dict
        super()._load_from_state_dict(state_dict, prefix, *args)
        missing_keys = args[2]
        if has_flag:
            self._noise_on = bool(self.noise_flag)
        elif key in missing_keys:
            # a plain PreActBlock's state_dict: load its weights, keep the current switch
            missing_keys.remove(key)

    @property
    def stochastic(self) -> bool:
        """True while the block injects noise (read by the attacks to enable EOT)."""
        return bool(self.noise_on and self.a > 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = self.residual_sum(x)
        if not self.noise_on or self.a == 0:
            return out
        return _relative_noise(out, float(self.a), self.per_sample)


def noisy_resnet20(a: float = 0.1, n_classes: int = 10, per_sample: bool = True,
                   **kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet20 with noise after each of its 9 residual blocks.

    Parameters
    ----------
    a : float, default=0.1
        Noise coefficient (σ = a·std(x + F(x))).
    n_classes : int, default=10
    per_sample : bool, default=True
        See :class:`NoisyResidualBlock`.
    **kwargs
        Passed to :class:`~spikedecode.robust.resnet.PreActResNet`.

    Returns
    -------
    PreActResNet
        The untrained network, noise switched on.

    Examples
    --------
    >>> import torch
    >>> noisy_resnet20(a=0.1)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    a = check_param(a, "a", Interval(Real, 0, None))

    def block(i: int, p: int, s: int) -> NoisyResidualBlock:
        return NoisyResidualBlock(i, p, s, a=a, per_sample=per_sample)

    return PreActResNet((3, 3, 3), n_classes=n_classes, block=block, **kwargs)


class EnResNet(nn.Module):
    """Ensemble of (noisy) ResNet20s averaging the members' logits (Wang et al. 2019).

    Parameters
    ----------
    n_members : int, default=5
    a : float, default=0.1
        Noise coefficient of every member (0 gives an ensemble of plain ResNet20s).
    n_classes : int, default=10
    members : sequence of nn.Module, optional
        Use these trained members instead of building new ones.

    Notes
    -----
    Train it whole with :func:`spikedecode.training.train` (one loss on the averaged
    logits, as the published code does) or train members separately and pass them in.

    Examples
    --------
    >>> import torch
    >>> EnResNet(n_members=2)(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 10])
    """

    def __init__(self, n_members: int = 5, a: float = 0.1, n_classes: int = 10,
                 members: Sequence[nn.Module] | None = None) -> None:
        super().__init__()
        if members is not None:
            members = list(members)
            if not members or not all(isinstance(m, nn.Module) for m in members):
                raise SpikeDecodeTypeError("members must be a non-empty sequence of "
                                           "torch.nn.Module.")
        else:
            n = check_param(n_members, "n_members", Interval(Integral, 1, None))
            members = [noisy_resnet20(a=a, n_classes=n_classes) for _ in range(n)]
        self.members = nn.ModuleList(members)
        self.n_members = len(self.members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = self.members[0](x)
        for m in self.members[1:]:
            out = out + m(x)
        return out / self.n_members


def set_noise(model: nn.Module, on: bool) -> nn.Module:
    """Switch the noise of every :class:`NoisyResidualBlock` in ``model`` on or off.

    Parameters
    ----------
    model : torch.nn.Module
        A network holding noisy blocks (e.g. :func:`noisy_resnet20`).
    on : bool
        True to inject noise, False for a deterministic network.

    Returns
    -------
    torch.nn.Module
        ``model`` itself (for chaining).

    Examples
    --------
    >>> import torch
    >>> net = set_noise(noisy_resnet20(), False).eval()
    >>> x = torch.rand(1, 3, 32, 32)
    >>> torch.equal(net(x), net(x))
    True
    """
    for m in model.modules():
        if isinstance(m, NoisyResidualBlock):
            m.noise_on = bool(on)
    return model

