"""Tests of the pre-activation ResNet20 backbone."""

from __future__ import annotations

import pytest
import torch

from spikedecode.errors import ConfigError
from spikedecode.robust.resnet import PreActBlock, PreActResNet, count_parameters, resnet20


def test_resnet20_parameter_count_and_shapes():
    net = resnet20(n_classes=10)
    n = count_parameters(net)
    # He et al. report 0.27 M for ResNet20; projection shortcuts add ~3 k.
    assert 0.26e6 < n < 0.28e6
    x = torch.rand(3, 3, 32, 32)
    assert net(x).shape == (3, 10)
    assert net.features(x).shape == (3, 64)
    # 9 blocks: 3 stages of 3
    assert sum(isinstance(m, PreActBlock) for m in net.modules()) == 9
    assert resnet20(n_classes=7)(x).shape == (3, 7)


def test_block_identity_when_residual_zero():
    block = PreActBlock(16, 16).eval()
    torch.nn.init.zeros_(block.conv2.weight)
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(block(x), x)


def test_downsampling_block_shapes():
    torch.manual_seed(0)
    block = PreActBlock(16, 32, stride=2).eval()
    assert block.shortcut is not None
    x = torch.randn(2, 16, 8, 8)
    assert block(x).shape == (2, 32, 4, 4)
    # the 1x1 projection acts on the pre-activated input relu(bn1(x)) (EnResNet's layout):
    # with the residual branch zeroed, the block is exactly that projection
    torch.nn.init.zeros_(block.conv2.weight)
    with torch.no_grad():
        expected = block.shortcut(torch.relu(block.bn1(x)))
        got = block(x)
    torch.testing.assert_close(got, expected)
    assert float(expected.abs().sum()) > 0


def test_gradient_flows_to_input():
    net = resnet20().eval()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    net(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_bad_config():
    with pytest.raises(ConfigError, match="widths"):
        PreActResNet((3, 3), widths=(16, 32, 64))
    with pytest.raises(ConfigError, match="n_classes"):
        resnet20(n_classes=0)
