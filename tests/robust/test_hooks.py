"""robust._hooks: one layer lookup, one capture mechanism, one LSTM convention."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikedecode.errors import ConfigError, SpikeDecodeTypeError
from spikedecode.robust._hooks import (
    LayerCapture,
    final_state,
    flatten_activation,
    iter_activations,
    layer_output,
    resolve_layer,
    resolve_layers,
)
from spikedecode.robust.hardneg import record_activations
from spikedecode.robust.noise import LayerNoise
from spikedecode.robust.spectra import layer_covariance


class _Seq(nn.Module):
    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size * (2 if rnn.bidirectional else 1), 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1] if self.rnn.batch_first else out[-1])


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_final_state_is_torch_h_n(kind, bidirectional, batch_first):
    torch.manual_seed(0)
    rnn = kind(3, 4, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
    x = torch.randn(5, 6, 3)
    out = rnn(x)
    h_n = out[1][0] if kind is nn.LSTM else out[1]
    expected = torch.cat([h_n[-2], h_n[-1]], -1) if bidirectional else h_n[-1]
    # the final state is read from the output sequence: the same numbers, not recomputed
    assert torch.equal(flatten_activation(rnn, out), expected)
    assert torch.equal(final_state(rnn, layer_output(out)), expected)


def test_one_lstm_convention_across_modules():
    torch.manual_seed(0)
    net = _Seq(nn.LSTM(3, 4, batch_first=True))
    x = torch.randn(7, 5, 3)
    seq, _ = net.rnn(x)
    # recording (hardneg) gives the output sequence ...
    rec = record_activations(net, x, "rnn", flatten=False)["rnn"]
    assert rec.dims == ("sample", "lag", "unit")
    torch.testing.assert_close(torch.as_tensor(rec.values), seq.detach())
    # ... and the spectral analysis its last step (= h_n), from the same capture
    mean, _cov = layer_covariance(net, x, "rnn")
    torch.testing.assert_close(mean, seq[:, -1].detach().double().mean(0))


def test_layer_noise_perturbs_the_output_sequence_of_an_lstm():
    torch.manual_seed(0)
    net = _Seq(nn.LSTM(3, 4, batch_first=True))
    x = torch.randn(7, 5, 3)
    seen = {}
    net.head.register_forward_hook(lambda m, i, o: seen.__setitem__("in", i[0]))
    ln = LayerNoise("rnn", kind="relative", scale=1.0, test_time=True).attach(net)
    with torch.no_grad():
        net(x)
    ln.detach()
    clean = net.rnn(x)[0][:, -1]
    assert not torch.allclose(seen["in"], clean)  # the sequence reaching the head is noisy


def test_resolve_errors_list_available_names():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    with pytest.raises(ConfigError, match=r"layer == 'nope'.*\['0', '1'\]"):
        resolve_layer(net, "nope")
    with pytest.raises(ConfigError, match="not a submodule"):
        resolve_layer(net, nn.ReLU())
    with pytest.raises(SpikeDecodeTypeError, match="layer must be"):
        resolve_layer(net, 3)
    assert list(resolve_layers(net, [net[1], "0"])) == ["1", "0"]
    with pytest.raises(ConfigError, match="empty"):
        resolve_layers(net, [])


def test_capture_modes_and_hook_cleanup():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    named = resolve_layers(net, ["0", "1"])
    cap = LayerCapture(named, latest_only=True, keep_graph=True)
    with cap:
        net(torch.ones(4, 2, requires_grad=True))
        net(torch.zeros(2, 2))
    assert [len(v) for v in cap.outputs.values()] == [1, 1]  # only the latest pass
    assert cap.last()[0].shape == (2, 3)
    assert all(len(m._forward_hooks) == 0 for m in net)
    # early stop: the last layer never runs once the wanted ones have
    ran = []
    net[2].register_forward_hook(lambda *a: ran.append(1))
    batches = list(iter_activations(net, torch.ones(10, 2), ["0"], batch_size=4))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2] and ran == []
    with pytest.raises(ConfigError, match="twice"):
        list(iter_activations(net, torch.ones(3, 2), ["0", "0"]))
