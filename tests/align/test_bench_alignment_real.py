"""The real-data alignment benchmark: its reporting protocol (issue 20) and --quick path."""

from __future__ import annotations

import numpy as np
import pytest

import spikedecode.evaluation.consistency as consistency
from spikedecode.align import CCAAligner
from spikedecode.evaluation import cross_day_matrix, prepare_days
from tests.align.conftest import decoder, lagged_trials
from tests.conftest import SHARED_DATA, load_benchmark

_real_data = pytest.mark.skipif(not (SHARED_DATA / "steinmetz").is_dir(),
                                reason=f"{SHARED_DATA}/steinmetz absent (shared real data)")


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_alignment_real")


def _rows(out, names):
    return [line.split() for line in out.splitlines()
            if line.split() and line.split()[0] in names]


def _mean(token):
    return float(token.split("±")[0])


@pytest.mark.slow
@pytest.mark.data
@_real_data
def test_quick_benchmark_rows_use_the_fixed_ceiling(bench, capsys, tmp_path):
    import json

    names = ("cca", "cca+time", "procrustes+time-free", bench.PEER)
    out = tmp_path / "b.json"
    assert bench.main(["--quick", "--seeds", "0,1", "--aligners", ",".join(names),
                       "--json", str(out)]) == 0
    text = capsys.readouterr().out
    rows = _rows(text, names)
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (n, m) for n in names for m in ("Cori", "Forssmann"))
    res = json.loads(out.read_text())
    for r in rows:
        row = res["rows"][f"{r[0]}/{r[1]}"]
        assert len(row["acc"]) == len(row["share"]) == 2  # per-seed values
        # ONE ceiling per mouse, the same for every row
        ceiling = np.mean(list(res["ceilings"][r[1]].values()))
        assert float(r[5]) == pytest.approx(ceiling, abs=1e-3)
        share = (np.mean(row["acc"]) - row["majority"]) / (row["ceiling"] - row["majority"])
        assert _mean(r[6]) == pytest.approx(share, abs=0.01)
        if r[0] != "cca":  # time-resolved rows and the peer transfer above the majority
            assert _mean(r[3]) > float(r[4]) + 0.05
    ratios = [ln for ln in text.splitlines() if ln.startswith("ratio cca+time / sklearn-peer")]
    assert len(ratios) == 2 and all("(2 seeds, same halves)" in ln for ln in ratios)


def test_peer_halves_are_the_halves_cross_day_matrix_adapts_on(bench, monkeypatch):
    rng = np.random.default_rng(0)
    days = {}
    for d, n_units in (("a", 6), ("b", 5), ("c", 7)):
        X, y, _ = lagged_trials(rng, 24, n_units, n_lags=4, noise=0.3, spanning=True)
        days[d] = (X.reshape(len(X), 4, n_units), y, np.arange(len(y)))
    seen = []
    inner = consistency._adapt

    def spy(al, v, day, sel):
        seen.append((day, np.sort(np.asarray(sel))))
        return inner(al, v, day, sel)

    monkeypatch.setattr(consistency, "_adapt", spy)
    cross_day_matrix(days, decoder(), aligner=CCAAligner(n_components=2, n_lags=4),
                     scheduler="sync", n_splits=2, random_state=3)
    halves = bench.cross_day_halves(prepare_days(days, shared_units=False), 3)
    expected = [(b, np.sort(fit)) for a in days for b in days if a != b
                for fit, _ in halves[a, b]]
    assert len(seen) == len(expected) == 12
    for (day, sel), (day_e, sel_e) in zip(seen, expected):
        assert day == day_e and np.array_equal(sel, sel_e)


def test_rows_print_mean_and_sd_over_seeds(bench):
    r = {"acc": [0.7, 0.8, 0.9], "share": [0.5, 0.6, 0.7], "own_share": [1.0, 1.0, 1.0],
         "below": [1, 0, 2], "majority": 0.55, "ceiling": 0.85, "pairs": 6,
         "adapt_s": 0.25, "seeds": [0, 1, 2]}
    cols = bench.format_row("cca", "Cori", r).split()
    assert cols[3] == "0.800±0.100" and cols[6] == "0.60±0.10" and cols[7] == "1.00±0.00"
    assert cols[8] == "3" and cols[-1] == "3"


def test_peer_ratios_are_ours_over_the_peer_seed_by_seed(bench, capsys):
    ours = {"share": [0.8, 0.6], "acc": [0.81, 0.77]}
    peer = {"share": [0.4, 0.6], "acc": [0.75, 0.77]}
    bench.print_peer_ratios({"cca+time/Cori": ours, f"{bench.PEER}/Cori": peer,
                             f"{bench.PEER}/Forssmann": peer})  # no ours: no line
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "Cori (2 seeds, same halves)" in out[0]
    # share ratios 2.0 and 1.0: mean 1.5, sd 0.71
    assert "share 1.50±0.71" in out[0] and "accuracy 1.040±0.057" in out[0]


def test_peer_line_adds_the_total_time_ratio_and_rows_print_cpu_seconds(bench, capsys):
    ours = {"share": [0.8, 0.6], "acc": [0.81, 0.77], "total_s": 10.0, "total_cpu_s": 8.0}
    peer = {"share": [0.4, 0.6], "acc": [0.75, 0.77], "total_s": 20.0, "total_cpu_s": 10.0}
    bench.print_peer_ratios({"cca+time/Cori": ours, f"{bench.PEER}/Cori": peer})
    line = capsys.readouterr().out.strip()
    assert line.endswith("total time 0.50x wall, 0.80x CPU")
    # the same ratio is not claimed when the two ran different numbers of seeds
    bench.print_peer_ratios({"cca+time/Cori": {**ours, "share": [0.8]},
                             f"{bench.PEER}/Cori": peer})
    assert "total time" not in capsys.readouterr().out
    r = {"acc": [0.7, 0.8], "share": [0.5, 0.6], "own_share": [1.0, 1.0], "below": [0, 0],
         "majority": 0.55, "ceiling": 0.85, "pairs": 6, "adapt_s": 4.5,
         "adapt_cpu_s": 1.25, "total_s": 312.0, "seeds": [0, 1]}
    cols = bench.format_row("adversarial+time", "Cori", r).split()
    assert cols[9:12] == ["4.50", "1.25", "312"] and cols[-1] == "2"
