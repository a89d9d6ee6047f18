"""``import spikedecode`` makes idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE) unless
the user chose otherwise or an OpenMP runtime was loaded first (spikedecode/_threads.py).

Each case runs in a fresh interpreter: the policy is read once, when OpenMP loads. libgomp's
``OMP_DISPLAY_ENV=VERBOSE`` prints the spin count it will use (0 when passive), so the
tests check the runtime's own setting, not only the environment variable.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spikedecode import _threads

REPO = Path(__file__).resolve().parents[1]
# torch's CPU wheel for Linux ships GNU libgomp, which prints its spin count
_TORCH = importlib.util.find_spec("torch")
TORCH_GOMP = bool(_TORCH and _TORCH.origin and any(
    (Path(_TORCH.origin).parent / "lib").glob("libgomp*")))

PROBE = """
import json, os, sys
before = dict(os.environ)
{pre}
import spikedecode
from spikedecode import _threads
after_import = dict(os.environ)
import torch
(torch.ones(64, 64) @ torch.ones(64, 64)).sum()  # start torch's OpenMP pool
changed = {{k: [before.get(k), after_import.get(k)] for k in set(before) | set(after_import)
           if before.get(k) != after_import.get(k)}}
print(json.dumps({{"status": _threads.wait_policy_status, "changed": changed,
                  "policy": os.environ.get("OMP_WAIT_POLICY")}}))
"""


def _probe(pre: str = "", **env: str) -> tuple[dict, str]:
    """Run PROBE in a fresh interpreter; its JSON line and libgomp's spin count."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    base.update(PYTHONPATH=f"{REPO}{os.pathsep}{base.get('PYTHONPATH', '')}",
                OMP_DISPLAY_ENV="VERBOSE", **env)
    proc = subprocess.run([sys.executable, "-c", PROBE.format(pre=pre)], env=base,
                          capture_output=True, text=True, timeout=120, check=True)
    spin = [line.split("=", 1)[1].strip().strip("'") for line in
            (proc.stdout + proc.stderr).splitlines() if "GOMP_SPINCOUNT" in line]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, spin[0] if spin else ""


def test_import_sets_the_passive_policy_when_unset():
    result, spin = _probe()
    assert result["status"] == "set"
    assert result["policy"] == "PASSIVE"
    assert bool(spin) == TORCH_GOMP  # other OpenMP runtimes print no GOMP_SPINCOUNT
    if spin:
        assert spin == "0"  # loaded after spikedecode, it never spins
    # the import changes this one variable and nothing else
    assert result["changed"] == {"OMP_WAIT_POLICY": [None, "PASSIVE"]}


@pytest.mark.parametrize("value", ["ACTIVE"])
def test_a_users_setting_is_kept(value):
    result, spin = _probe(OMP_WAIT_POLICY=value)
    assert result["status"] == "user"
    assert result["policy"] == value
    assert result["changed"] == {}
    if spin:
        assert spin == ("0" if value == "passive" else "30000000000")


def test_too_late_when_torch_was_imported_first():
    result, spin = _probe(pre="import torch")
    assert result["status"] == "too-late"
    assert result["policy"] is None  # not set where it could no longer act
    assert result["changed"] == {}
    if spin:
        assert spin == "300000"  # libgomp's default, which the thread counts work around


def test_openmp_detection_reads_the_loaded_libraries(tmp_path):
    maps = tmp_path / "maps"
    line = "7f0000000000-7f0000001000 r-xp 00000000 08:01 123 "
    maps.write_text(line + "/usr/lib/libc.so.6\n" + line + "\n")
    assert not _threads._openmp_loaded(maps)
    maps.write_text(line + "/x/torch/lib/libgomp.so.1\n")
    assert _threads._openmp_loaded(maps)
    maps.write_text(line + "/opt/intel/lib/libiomp5.so\n")
    assert _threads._openmp_loaded(maps)


def test_without_proc_maps_the_loaded_modules_decide(tmp_path, monkeypatch):
    missing = tmp_path / "absent"
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch", object()))
    assert _threads._openmp_loaded(missing)
    for name in _threads._OPENMP_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert not _threads._openmp_loaded(missing)


def test_default_wait_policy_in_process(monkeypatch):
    monkeypatch.setattr(_threads, "wait_policy_status", None)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(_threads, "_openmp_loaded", lambda: False)
    assert _threads.default_wait_policy() == "set"
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert _threads.default_wait_policy() == "set"  # a second call keeps its own value
    monkeypatch.setattr(_threads, "wait_policy_status", None)
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setattr(_threads, "_openmp_loaded", lambda: True)
    assert _threads.default_wait_policy() == "too-late"
    assert "OMP_WAIT_POLICY" not in os.environ
