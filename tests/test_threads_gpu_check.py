"""benchmarks/gpu_check.py (issue 23, item 4): its CPU smoke path runs, so the script is
ready for a device. ``--device cuda`` itself runs only where torch sees a GPU."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import load_benchmark, shared_data


def _load():
    return load_benchmark("gpu_check")


@pytest.fixture(scope="module")
def gpu_check():
    return _load()


def test_smoke_and_step_stages_run_on_the_cpu(gpu_check, tmp_path):
    res = gpu_check.main(["--device", "cpu", "--quick", "--stages", "smoke,step",
                          "--out", str(tmp_path)])
    for kind in ("mlp", "lstm"):
        assert res["smoke"][kind]["device"] == "cpu"
        assert 0.0 <= res["smoke"][kind]["accuracy"] <= 1.0
    for name in ("NoisyResNet20(a=0.1)", "En2NoisyResNet20(a=0.1)"):
        assert res["smoke"][name]["ifgsm_mean_abs_change"] > 0  # the attack moved the input
    for name in ("ResNet20", "NoisyResNet20"):
        assert res["step"][name]["cpu"]["images_per_s"] > 0
    assert res["step"]["noisy_over_plain"] > 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["device"] == "cpu" and "smoke" in saved


def test_the_plan_scales_with_the_work(gpu_check):
    args = gpu_check.parse_args(["--device", "cpu"])
    rates = {"ResNet20": 1000.0, "NoisyResNet20": 800.0}
    base = gpu_check.table_plan(args, 50_000, 10_000, rates)
    args.epochs *= 2
    longer = gpu_check.table_plan(args, 50_000, 10_000, rates)
    models = [k for k in base if not k.startswith("surrogate")]
    assert all(longer[k] > base[k] for k in models)
    assert longer["surrogate (natural training)"] == base["surrogate (natural training)"]
    args.adv_train = "pgd7"
    pgd = gpu_check.table_plan(args, 50_000, 10_000, rates)
    assert pgd["ResNet20"] > 3 * longer["ResNet20"]  # 8 passes per image instead of 2
    fast = gpu_check.table_plan(args, 50_000, 10_000, {k: 10 * v for k, v in rates.items()})
    assert fast["ResNet20"] == pytest.approx(pgd["ResNet20"] / 10)
    # the ensemble of 5 costs about 5 single noisy networks
    assert pgd["En5NoisyResNet20(a=0.1)"] == pytest.approx(5 * pgd["NoisyResNet20(a=0.1)"])


def test_cuda_is_refused_clearly_without_a_device(gpu_check):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(SystemExit, match="no CUDA device"):
        gpu_check.main(["--device", "cuda", "--stages", "smoke"])


@pytest.mark.slow
def test_quick_table_on_a_tiny_cifar_subset(gpu_check, tmp_path):
    data = shared_data("cifar10", "cifar10-jpeg.tar.xz")
    res = gpu_check.main(["--device", "cpu", "--quick", "--data", str(data),
                          "--out", str(tmp_path)])
    table = res["table"]
    assert table["n_train"] == 80 and table["n_test"] == 80  # 8 per class and split
    assert "JPEG" in table["note"]
    models = [k for k in table["rows"] if k != "surrogate"]
    assert models == ["ResNet20", "NoisyResNet20(a=0.1)", "En2NoisyResNet20(a=0.1)"]
    for name in models:
        row = table["rows"][name]
        for protocol in ("honest", "published_protocol"):
            assert all(0.0 <= v <= 100.0 for v in row[protocol].values())
        assert row["expected_s"] > 0 and row["time_s"] > 0
    assert (tmp_path / "results.json").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_smoke(gpu_check):
    res = gpu_check.main(["--device", "cuda", "--quick", "--stages", "smoke,step"])
    assert res["smoke"]["lstm"]["device"].startswith("cuda")
    assert res["step"]["ResNet20"]["speedup"] > 0
