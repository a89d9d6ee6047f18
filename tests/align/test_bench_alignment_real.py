"""The real-data alignment benchmark's --quick path (slow; needs the shared data)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO as ROOT
from tests.conftest import SHARED_DATA

_real_data = pytest.mark.skipif(not (SHARED_DATA / "steinmetz").is_dir(),
                                reason=f"{SHARED_DATA}/steinmetz absent (shared real data)")


def _load_bench():
    spec = importlib.util.spec_from_file_location(
        "bench_alignment_real", ROOT / "benchmarks" / "bench_alignment_real.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.slow
@pytest.mark.data
@_real_data
def test_quick_benchmark_prints_one_row_per_aligner_and_data_set(capsys):
    bench = _load_bench()
    assert bench.main(["--quick", "--aligners", "cca,distribution"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.split() and line.split()[0] in ("cca", "distribution")]
    assert {(r[0], r[1]) for r in rows} == {(a, d) for a in ("cca", "distribution")
                                            for d in ("Cori", "Forssmann", "chewie")}
    for r in rows:
        acc, major, ceiling, adapt_s = float(r[3]), float(r[4]), float(r[5]), float(r[7])
        assert 0 <= major <= 1 and 0 <= acc <= 1 and 0 <= ceiling <= 1
        assert adapt_s < 10.0  # the budget per adapted day
    # cca transfers above the majority rate on every data set (measured 0.65-0.75)
    assert all(float(r[3]) > float(r[4]) for r in rows if r[0] == "cca")


@pytest.mark.slow
@pytest.mark.data
@_real_data
def test_quick_benchmark_time_resolved_rows(capsys):
    bench = _load_bench()
    names = ("cca+time", "procrustes+time-free")
    assert bench.main(["--quick", "--aligners", ",".join(names)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.split() and line.split()[0] in names]
    # Steinmetz only: chewie has no trials, hence no lags to resolve
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (n, m) for n in names for m in ("Cori", "Forssmann"))
    for r in rows:
        # above the majority rate on both mice, with labels and without (measured
        # 0.767 / 0.667 and 0.721 / 0.713 vs a majority of 0.581 / 0.517)
        assert float(r[3]) > float(r[4]) + 0.05
        assert float(r[7]) < 10.0  # seconds per adapted day


def test_peer_ratios_are_ours_over_the_peer_per_mouse(capsys):
    bench = _load_bench()
    r = {"share": 0.8, "acc": 0.81, "total_s": 4.0}
    peer = {"share": 0.4, "acc": 0.75, "total_s": 2.0}
    bench.print_peer_ratios({("cca+time", "Cori"): r, (bench.PEER, "Cori"): peer,
                             (bench.PEER, "Forssmann"): peer})  # no ours: no line
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "Cori" in out[0]
    assert "share 2.00" in out[0] and "accuracy 1.080" in out[0] and "2.0x" in out[0]
