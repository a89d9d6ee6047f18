"""Experiment configs: the schema, load_config/validate_config and ``--config FILE``."""

from __future__ import annotations

import json

import click
import pytest

from spikedecode.cli import main
from spikedecode.errors import ConfigError
from spikedecode.schema import config_keys, load_config, validate_config


def _option_keys(command: click.Command) -> set[str]:
    return {opt.lstrip("-").replace("-", "_") for p in command.params
            if isinstance(p, click.Option) for opt in p.opts if opt.startswith("--")}


# options that make no sense in a config file: the config itself, and output switches
_NOT_IN_CONFIG = {"config", "json", "help"}


@pytest.mark.parametrize("section", ["decode", "consistency"])
def test_config_keys_mirror_the_command_options(section):
    """Every config key is an option of the command, and every option is a config key.

    When a command gains an option, this fails until the schema learns the key.
    """
    import importlib

    command = importlib.import_module(f"spikedecode._cli.{section}").command
    assert set(config_keys(section)) == _option_keys(command) - _NOT_IN_CONFIG


def test_load_config_json_and_toml_agree(tmp_path):
    cfg = {"decode": {"decoder": ["logistic", "svm"], "bin": "10ms", "window": 3,
                      "n_splits": 4, "stimuli": "touch/LUM,airpuff"},
           "consistency": {"align": "cca", "lodo": True, "bin": 0.01}}
    (tmp_path / "a.json").write_text(json.dumps(cfg))
    (tmp_path / "a.toml").write_text(
        '[decode]\ndecoder = ["logistic", "svm"]\nbin = "10ms"\nwindow = 3\nn_splits = 4\n'
        'stimuli = "touch/LUM,airpuff"\n\n[consistency]\nalign = "cca"\nlodo = true\n'
        'bin = 0.01\n'
    )
    assert load_config(tmp_path / "a.json") == cfg
    assert load_config(tmp_path / "a.toml") == cfg


@pytest.mark.parametrize("cfg, field, value", [
    ({"decode": {"n_splits": "five"}}, "decode.n_splits", "'five'"),
    ({"decode": {"n_splits": 1}}, "decode.n_splits", "1"),
    ({"decode": {"bin": "5 parsecs"}}, "decode.bin", "'5 parsecs'"),
    ({"decode": {"decoder": "logistic,forest"}}, "decode.decoder", "'logistic,forest'"),
    ({"consistency": {"align": "magic"}}, "consistency.align", "'magic'"),
    ({"consistency": {"lodo": "yes"}}, "consistency.lodo", "'yes'"),
    ({"decode": {"windw": 3}}, "decode.windw", "3"),
    ({"decoding": {}}, "'decoding'", "'decoding'"),
])
def test_bad_config_names_field_and_value(cfg, field, value):
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, source="exp.toml")
    msg = str(info.value)
    assert msg.startswith("exp.toml: ")
    assert field in msg and value in msg


def test_bad_config_files(tmp_path):
    (tmp_path / "broken.toml").write_text("[decode\n")
    (tmp_path / "exp.yaml").write_text("decode: {}\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "broken.toml")
    with pytest.raises(ConfigError, match="use a .json or .toml"):
        load_config(tmp_path / "exp.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.json")


def test_cli_rejects_bad_config_before_reading_data(tmp_path, capsys):
    cfg = tmp_path / "exp.json"
    cfg.write_text(json.dumps({"decode": {"n_boot": -1}}))
    # FILE is not even a recording: the config is checked first (it is an eager option)
    assert main(["decode", str(cfg), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "decode.n_boot" in err and "-1" in err


def test_cli_config_sets_defaults_and_command_line_wins(tmp_path, capsys, tiny_experiment):
    from spikedecode.io import write

    rec = tmp_path / "day0.nc"
    write(tiny_experiment[0], rec)
    cfg = tmp_path / "exp.toml"
    cfg.write_text('[decode]\ndecoder = ["logistic"]\nlabels = "binary"\nwindow = 3\n'
                   'step = 4\nbin = "10ms"\nn_boot = 20\nn_splits = 3\n')
    rc = main(["decode", str(rec), "--config", str(cfg), "--step", "6", "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    # from the file (the built-in defaults are window 5, bin 5 ms, labels multiclass)
    assert rep["n_bins"] == 3 and rep["labels"] == "binary"
    assert rep["bin_size"] == pytest.approx(0.010)  # parsed from "10ms": float division
    assert list(rep["results"]) == ["logistic"]
    # the command line overrides the file
    assert rep["step"] == 6
