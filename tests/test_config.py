"""Layered configuration: defaults -> YAML preset -> dotted overrides, and error messages a user can act on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import pytest
import yaml

from core.config import (
    ConfigError,
    build_config,
    config_hash,
    dump_yaml,
    parse_overrides,
    split_overrides,
    to_dict,
)
from core.errors import UserError
from core.run_info import write_run_info


@dataclass(frozen=True)
class ModelConfig:
    depth: int = 12
    width: int = 384
    patch: Literal[8, 16] = 16
    drop_path: float = 0.1


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adamw", "sgd"] = "adamw"
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    shards: str = "data/{00000..00009}.tar"
    out: Path = Path("runs/train")
    epochs: int = 100
    compile: bool = False
    seed: Optional[int] = None  # noqa: UP045  (the typing.Optional spelling must work too)
    crops: tuple[int, ...] = (224, 96)
    note: str | None = None


def test_defaults_when_nothing_is_given():
    assert build_config(TrainConfig) == TrainConfig()


def test_layers_apply_in_order(tmp_path):
    preset = tmp_path / "small.yaml"
    preset.write_text("model:\n  depth: 6\n  width: 192\nepochs: 10\n")
    config = build_config(TrainConfig, preset, ["model.width=256", "optim.lr=1e-3", "seed=7"])
    assert config.model == ModelConfig(depth=6, width=256)  # preset depth kept, override width wins, rest default
    assert config.epochs == 10
    assert config.optim.lr == 0.001 and config.optim.name == "adamw"
    assert config.seed == 7


def test_mapping_preset_and_value_types(tmp_path):
    config = build_config(TrainConfig, {"out": str(tmp_path), "crops": [224, 96, 96]},
                          ["compile=true", "optim.betas=[0.9, 0.95]", "model.drop_path=0", "note=null"])
    assert config.out == tmp_path and isinstance(config.out, Path)
    assert config.crops == (224, 96, 96)
    assert config.compile is True
    assert config.optim.betas == (0.9, 0.95)
    assert config.model.drop_path == 0.0 and isinstance(config.model.drop_path, float)
    assert config.note is None


def test_unknown_key_lists_valid_keys_and_suggests():
    with pytest.raises(ConfigError) as err:
        build_config(TrainConfig, overrides=["epoch=3"])
    message = str(err.value)
    assert "unknown config key 'epoch'" in message
    assert "valid keys at the top level: compile, crops, epochs, model, note, optim, out, seed, shards" in message
    assert "Did you mean 'epochs'?" in message


def test_unknown_nested_key_names_its_section():
    with pytest.raises(ConfigError) as err:
        build_config(TrainConfig, {"model": {"detph": 4}})
    message = str(err.value)
    assert "unknown config key 'model.detph'; valid keys at model: depth, drop_path, patch, width" in message
    assert "Did you mean 'model.depth'?" in message


def test_unknown_key_without_close_match_has_no_suggestion():
    with pytest.raises(ConfigError) as err:
        build_config(TrainConfig, overrides=["zzz=1"])
    assert "Did you mean" not in str(err.value)


@pytest.mark.parametrize("override,expected", [
    ("epochs=ten", "epochs: expected int, got 'ten' (str)"),
    ("epochs=2.5", "epochs: expected int, got 2.5 (float)"),
    ("epochs=true", "epochs: expected int, got True (bool)"),
    ("compile=maybe", "compile: expected bool (true/false), got 'maybe'"),
    ("optim.lr=fast", "optim.lr: expected float, got 'fast' (str)"),
    ("optim.name=adam", "optim.name: expected one of 'adamw', 'sgd', got 'adam'"),
    ("model.patch=14", "model.patch: expected one of 8, 16, got 14"),
    ("optim.betas=[0.9, 0.95, 0.99]", "optim.betas: expected 2 items, got 3"),
    ("optim.betas=0.9", "optim.betas: expected a list"),
    ("crops=[224, big]", "crops[1]: expected int, got 'big' (str)"),
    ("seed=abc", "seed: expected int | None, got 'abc' (str)"),
    ("model=4", "model is a section, not a value; set one of its keys, e.g. model.KEY=VALUE"),
])
def test_wrong_type_names_key_and_expected_type(override, expected):
    with pytest.raises(ConfigError) as err:
        build_config(TrainConfig, overrides=[override])
    assert expected in str(err.value)


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_overrides(["epochs"])
    with pytest.raises(ConfigError, match="sets a key below 'model', which was given a value"):
        parse_overrides(["model=1", "model.depth=2"])


def test_split_overrides_keeps_plain_arguments():
    plain, overrides = split_overrides(["data/", "model.depth=6", "--flag", "x=1"])
    assert (plain, overrides) == (["data/", "--flag"], ["model.depth=6", "x=1"])


def test_preset_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; pass an existing YAML file"):
        build_config(TrainConfig, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        build_config(TrainConfig, bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping of keys to values, not list"):
        build_config(TrainConfig, listed)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert build_config(TrainConfig, empty) == TrainConfig()


def test_config_error_is_a_user_error():
    assert issubclass(ConfigError, UserError)


def test_resolved_config_round_trips_and_hashes(tmp_path):
    config = build_config(TrainConfig, overrides=["model.depth=6", f"out={tmp_path}"])
    assert build_config(TrainConfig, yaml.safe_load(dump_yaml(config))) == config
    assert to_dict(config)["out"] == str(tmp_path) and to_dict(config)["crops"] == [224, 96]
    assert config_hash(config) == config_hash(build_config(TrainConfig, overrides=["model.depth=6", f"out={tmp_path}"]))
    assert config_hash(config) != config_hash(TrainConfig())


def test_run_info_is_written_into_the_output_directory(tmp_path):
    config = build_config(TrainConfig, overrides=["epochs=3"])
    write_run_info(tmp_path / "run", config, "pros train")
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["epochs"] == 3
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert info["command"] == "pros train" and info["config_hash"] == config_hash(config)
    assert info["packages"]["pyarrow"] is not None
