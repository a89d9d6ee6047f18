"""Pre-activation ResNet20 for CIFAR-10 (He et al. 2016, "Identity mappings in deep residual
networks"), the backbone of the EnResNet study (Wang et al. 2019).

Three stages of three pre-activation basic blocks (16, 32, 64 channels), a 3x3 stem and a
global-average-pooled linear head: about 0.27 M parameters. Downsampling blocks use a 1x1
convolution shortcut taken from the pre-activated input (as in the EnResNet code), so the
network is a plain ``nn.Module`` mapping ``(batch, 3, 32, 32)`` images in [0, 1] to logits.

Examples
--------
>>> import torch
>>> net = resnet20(num_classes=10)
>>> net(torch.zeros(2, 3, 32, 32)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikedecode.errors import ConfigError

__all__ = ["PreActBlock", "PreActResNet", "resnet20", "count_parameters"]


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
        """``x + F(x)`` (with the projection shortcut where the shape changes)."""
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
    num_classes : int, default=10
    block : callable, default=PreActBlock
        ``block(in_planes, planes, stride) -> nn.Module``; pass a factory to swap in a
        noisy block.
    widths : sequence of int, default=(16, 32, 64)
        Channels of the three stages.
    in_channels : int, default=3

    Examples
    --------
    >>> import torch
    >>> PreActResNet((1, 1, 1), num_classes=4)(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 4])
    """

    def __init__(self, num_blocks: Sequence[int] = (3, 3, 3), num_classes: int = 10,
                 block: Callable[..., nn.Module] = PreActBlock,
                 widths: Sequence[int] = (16, 32, 64), in_channels: int = 3) -> None:
        super().__init__()
        if len(num_blocks) != len(widths):
            raise ConfigError(f"num_blocks has {len(num_blocks)} stages but widths has "
                              f"{len(widths)}; give one width per stage.")
        if int(num_classes) < 1:
            raise ConfigError(f"num_classes == {num_classes!r}, must be >= 1.")
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
        self.linear = nn.Linear(in_planes, int(num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features (batch, widths[-1])."""
        out = self.layers(self.conv1(x))
        out = F.relu(self.bn(out))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.linear(self.features(x))


def resnet20(num_classes: int = 10, **kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet20 for CIFAR-10 (~0.27 M parameters).

    Parameters
    ----------
    num_classes : int, default=10
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
    return PreActResNet((3, 3, 3), num_classes=num_classes, **kwargs)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``.

    Examples
    --------
    >>> from torch import nn
    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))
