"""The public surface of spikedecode.robust: one module per name, an explicit lazy map."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import spikedecode.robust as robust


def _public_modules():
    return sorted(m.name for m in pkgutil.iter_modules(robust.__path__)
                  if not m.name.startswith("_"))


def test_submodules_listed():
    assert sorted(robust._SUBMODULES) == _public_modules()


def test_every_name_defined_in_exactly_one_module():
    owners: dict[str, list[str]] = {}
    for sub in _public_modules():
        mod = importlib.import_module(f"spikedecode.robust.{sub}")
        for name in mod.__all__:
            owners.setdefault(name, []).append(mod.__name__)
    # each public name is exported by one module, and the lazy map points there
    assert {n: m for n, m in owners.items() if len(m) > 1} == {}
    assert {n: m[0] for n, m in owners.items()} == robust._LAZY
    assert sorted(robust.__all__) == sorted(owners)
    for name in robust.__all__:
        obj = getattr(robust, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == robust._LAZY[name], name  # defined there, not re-exported


def test_no_all_lists_a_private_name():
    mods = [robust] + [importlib.import_module(f"spikedecode.robust.{m.name}")
                       for m in pkgutil.iter_modules(robust.__path__)]
    for mod in mods:
        assert [n for n in getattr(mod, "__all__", ()) if n.startswith("_")] == [], mod.__name__


def test_dir_and_unknown_name():
    assert {"certify", "spectra", "whiten"} <= set(dir(robust))
    try:
        robust.flatten_activation  # noqa: B018 - private now (robust._hooks)
    except AttributeError as err:
        assert "flatten_activation" in str(err)
    else:  # pragma: no cover
        raise AssertionError("flatten_activation is no longer public")
