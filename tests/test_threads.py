"""The thread policy (spikedecode/_threads.py): counts chosen from the work and the
allowed cores, explicit settings win, and the caller's settings are always restored."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from spikedecode import _threads
from spikedecode._threads import (
    ENV_VAR,
    available_cpus,
    resolve_n_threads,
    step_work,
    thread_limits,
    torch_threads,
)
from spikedecode.errors import ConfigError
from spikedecode.training import predict_logits, train


@pytest.fixture
def two_threads(monkeypatch):
    """Pretend two cores are allowed and the caller runs torch on two threads."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(_threads, "available_cpus", lambda: 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _blas_counts() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_available_cpus_respects_affinity():
    n = available_cpus()
    assert 1 <= n <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_cgroup_quota_is_read_from_v1_and_v2(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert _threads._cgroup_cpu_limit(tmp_path) == expected


def test_a_cgroup_quota_caps_the_cores(monkeypatch):
    monkeypatch.setattr(_threads, "_cgroup_cpu_limit", lambda: 0.5)
    assert available_cpus() == 1


def test_small_work_gets_one_thread_large_work_every_core(two_threads):
    lstm_step = step_work(26_000, 256, (5, 35))  # the CLI's LSTM
    resnet_step = step_work(270_000, 128, (3, 32, 32))
    assert resolve_n_threads(work=lstm_step) == 1
    assert resolve_n_threads(work=resnet_step) == 2
    assert resolve_n_threads() == 2


def test_explicit_count_and_env_win_over_the_work(two_threads, monkeypatch):
    assert resolve_n_threads(3, work=1.0) == 3
    monkeypatch.setenv(ENV_VAR, "2")
    assert resolve_n_threads(work=1.0) == 2
    monkeypatch.setenv(ENV_VAR, "auto")
    assert resolve_n_threads(work=1.0) == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "two", True])
def test_bad_thread_counts_name_the_setting(bad, monkeypatch):
    with pytest.raises(ConfigError, match=r"n_threads == "):
        resolve_n_threads(bad)
    monkeypatch.setenv(ENV_VAR, str(bad))
    with pytest.raises(ConfigError, match=ENV_VAR):
        resolve_n_threads()


def test_automatic_choice_never_exceeds_the_callers_torch_threads(two_threads):
    torch.set_num_threads(1)
    with torch_threads(work=1e12) as n:
        assert n == 1 == torch.get_num_threads()


def test_thread_limits_sets_and_restores_torch_and_blas(two_threads):
    blas_before = _blas_counts()
    with thread_limits(1) as n:
        assert n == 1
        assert torch.get_num_threads() == 1
        assert all(c == 1 for c in _blas_counts())
        # nested automatic choices follow the explicit count
        assert resolve_n_threads(work=1e12) == 1
    assert torch.get_num_threads() == 2
    assert _blas_counts() == blas_before
    assert resolve_n_threads(work=1e12) == 2


def test_thread_limits_restores_after_an_error(two_threads):
    with pytest.raises(RuntimeError), thread_limits(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == 2


def _net_and_data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 5, 3, generator=g)
    y = (X[:, 0, 0] > 0).long()
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(15, 2))
    return net, X, y


class _Record:
    def __init__(self):
        self.seen: list[int] = []

    def on_batch_begin(self, state):
        self.seen.append(torch.get_num_threads())


def test_training_a_small_net_uses_one_thread_and_restores(two_threads):
    net, X, y = _net_and_data()
    rec = _Record()
    train(net, (X, y), max_epochs=1, batch_size=16, callbacks=[rec], random_state=0)
    assert rec.seen and set(rec.seen) == {1}
    assert torch.get_num_threads() == 2


def test_training_restores_threads_when_it_fails(two_threads):
    net, X, y = _net_and_data()

    class Boom:
        def on_batch_begin(self, state):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        train(net, (X, y), max_epochs=1, callbacks=[Boom()], random_state=0)
    assert torch.get_num_threads() == 2


def test_training_follows_an_explicit_count(two_threads):
    net, X, y = _net_and_data()
    rec = _Record()
    with thread_limits(2):
        train(net, (X, y), max_epochs=1, batch_size=16, callbacks=[rec], random_state=0)
    assert set(rec.seen) == {2}


def test_prediction_restores_threads(two_threads):
    net, X, _ = _net_and_data()
    out = predict_logits(net, X)
    assert out.shape == (64, 2)
    assert torch.get_num_threads() == 2


def test_same_seed_same_weights_whatever_the_thread_count(two_threads):
    # the thread count changes reduction orders at most: results agree to tolerance
    weights = []
    for n in (1, 2):
        net, X, y = _net_and_data()
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(15, 2))
        with thread_limits(n):
            train(net, (X, y), max_epochs=2, batch_size=16, random_state=0)
        weights.append(np.concatenate([p.detach().numpy().ravel() for p in net.parameters()]))
    np.testing.assert_allclose(weights[0], weights[1], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def small_recording(tmp_path_factory):
    from spikedecode.datasets import simulate_touch_experiment
    from spikedecode.io import write

    rec = simulate_touch_experiment(n_days=1, n_repeats=1, n_strokes=4, n_puffs=2,
                                    n_units_range=(10, 12), random_state=3)[0]
    return write(rec, tmp_path_factory.mktemp("rec") / "session.nc")


class _Spy:
    """Records torch's thread count and OMP_WAIT_POLICY while a decoder fits."""

    def __init__(self):
        self.threads: list[int] = []
        self.wait_policy: list[str | None] = []


def test_cli_threads_apply_inside_and_are_restored(small_recording, tmp_path, monkeypatch,
                                                   two_threads):
    from spikedecode._cli import decode as decode_cli
    from spikedecode.cli import main

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    spy = _Spy()
    real = decode_cli.decode_windows

    def spying(*args, **kw):
        spy.threads.append(torch.get_num_threads())
        spy.wait_policy.append(os.environ.get("OMP_WAIT_POLICY"))
        return real(*args, **kw)

    monkeypatch.setattr(decode_cli, "decode_windows", spying)
    argv = ["decode", str(small_recording), "--decoder", "logistic", "--labels", "binary",
            "--n-splits", "2", "--n-boot", "10", "--json", "--out", str(tmp_path / "o")]
    assert main([*argv, "--threads", "1"]) == 0
    assert spy.threads == [1]
    assert spy.wait_policy == ["PASSIVE"]  # set before torch/OpenMP load in a fresh process
    assert torch.get_num_threads() == 2  # the caller's count is back
    assert "OMP_WAIT_POLICY" not in os.environ  # and so is the environment
    assert resolve_n_threads(work=1e12) == 2  # no explicit count left behind


@pytest.mark.parametrize("value", ["0", "many"])
def test_cli_bad_threads_is_a_clear_error(small_recording, tmp_path, capsys, value):
    from spikedecode.cli import main

    code = main(["decode", str(small_recording), "--threads", value, "--out", str(tmp_path)])
    assert code == 2
    assert "--threads == " in capsys.readouterr().err


def test_automatic_blas_threads_follow_the_work(two_threads):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):
        with thread_limits(blas_work=0.0) as n:
            assert n == 2  # torch keeps the allowed cores (training picks per network)
            assert all(c == 1 for c in _blas_counts())
        with thread_limits(blas_work=1e12):
            assert all(c == 2 for c in _blas_counts())
        assert all(c == 2 for c in _blas_counts())


def test_robust_finds_mnist_in_the_shared_data_folder(monkeypatch, tmp_path):
    from spikedecode._cli.robust import _shared_root
    from tests.conftest import shared_data

    shared = shared_data("mnist").parent
    monkeypatch.setenv("SPIKEDECODE_DATA", str(tmp_path))  # an empty default data folder
    monkeypatch.setenv("SPIKEDECODE_SHARED_DATA", str(shared))
    assert _shared_root("mnist") == str(shared)
    monkeypatch.setenv("SPIKEDECODE_DATA", str(shared))  # found by the default: no fallback
    assert _shared_root("mnist") is None


def test_robust_shows_no_progress_bars_in_a_pipe(monkeypatch):
    from spikedecode._cli import robust

    seen = {}

    def fake_run(**kw):
        seen.update(kw)
        return {"clean_accuracy": 1.0, "n_eval": 1, "val_accuracy": 1.0, "eps": [0.0],
                "accuracy": {"fgsm": [1.0]}, "masking_flags": {}}

    monkeypatch.setattr(robust, "run_robust", fake_run)
    from click.testing import CliRunner

    res = CliRunner().invoke(robust.command, ["--attack", "fgsm", "--eps", "0"])
    assert res.exit_code == 0, res.output
    assert seen["progress"] is False  # CliRunner's stderr is not a terminal


def test_evaluation_fits_run_small_blas_work_on_one_thread(two_threads, monkeypatch):
    from threadpoolctl import threadpool_limits

    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import metrics

    seen: list[list[int]] = []

    class Spy(type(make_decoder("logistic"))):  # a Pipeline that records the BLAS threads
        def fit(self, X, y, **kw):
            seen.append(_blas_counts())
            return super().fit(X, y, **kw)

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.repeat([0, 1], 30)
    with threadpool_limits(limits=2, user_api="blas"):
        metrics._fit(Spy(make_decoder("logistic").steps), X, y, None)
        assert seen and all(c == 1 for c in seen[-1])
        assert all(c == 2 for c in _blas_counts())  # restored
        with thread_limits(2):  # an explicit count wins
            metrics._fit(Spy(make_decoder("logistic").steps), X, y, None)
            assert all(c == 2 for c in seen[-1])
