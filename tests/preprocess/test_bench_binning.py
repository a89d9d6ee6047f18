"""The binning benchmark on a small recording: it runs, and its contenders agree."""

from __future__ import annotations

import json

import pytest

from tests.conftest import load_benchmark


def _load_bench():
    return load_benchmark("bench_binning")


def test_small_benchmark_agrees_with_elephant(tmp_path, capsys):
    pytest.importorskip("elephant", reason="elephant (the peer) is in the bench extra")
    bench = _load_bench()
    report = bench.main(["--n-units", "4", "--duration", "30", "--repeats", "1",
                         "--elephant-repeats", "1", "--threads", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "time / write floor (1 thread)" in out
    saved = json.loads((tmp_path / "bench_binning.json").read_text())
    assert saved["summary"]["bins_differing_from_elephant"] == 0
    assert saved["n_spikes"] == report["n_spikes"] > 0
    if "unchecked_bound" in saved["results"]:  # numba installed: the bound is printed
        assert "unchecked kernel" in out
        assert saved["summary"]["unchecked_bound_ratio_to_write_floor"] > 0
