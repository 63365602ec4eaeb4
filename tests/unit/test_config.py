"""params.yaml parsing: schema ↔ dataclasses, defaults, and errors that name the bad key."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from talkhead import config


@pytest.mark.parametrize("name", sorted(config.load_schema()["properties"]))
def test_every_schema_section_parses_into_its_dataclass(name):
    cls = config.SECTIONS[name]
    cfg = cls.from_dict({})
    schema_keys = set(config.load_schema()["properties"][name]["properties"])
    assert {f.name for f in dataclasses.fields(cls)} == schema_keys
    assert cls.from_json(cfg.to_json()) == cfg


def test_project_params_file_is_valid(repo):
    params = config.load_params(repo / "params.yaml")
    assert set(params) == set(config.SECTIONS)
    for name in params:
        config.section_config(params, name)


def test_defaults_fill_missing_keys(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"normalize": {"fps": 30}}))
    params = config.load_params(path)
    assert params["normalize"]["fps"] == 30
    assert params["normalize"]["sample_rate"] == 16000
    assert params["ingest"]["retries"] == 3


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"normalize": {"fps": "fast"}}, "normalize.fps"),
        ({"normalize": {"fsp": 25}}, "'fsp' was unexpected"),
        ({"ingest": {"retries": -1}}, "ingest.retries"),
        ({"dataset": {"name": "bad name!"}}, "dataset.name"),
        ({"nosuchsection": {}}, "'nosuchsection' was unexpected"),
    ],
)
def test_invalid_params_name_the_bad_key(tmp_path, bad, named):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(config.ConfigError, match=named.replace(".", r"\.").replace("(", r"\(")):
        config.load_params(path)


def test_stage_cfg_json_errors_are_config_errors():
    with pytest.raises(config.ConfigError, match="not valid JSON"):
        config.NormalizeConfig.from_json("{fps: 25")
    with pytest.raises(config.ConfigError, match="crf"):
        config.NormalizeConfig.from_json('{"crf": 99}')


def test_missing_params_file_is_a_clear_error(tmp_path):
    with pytest.raises(config.ConfigError, match="not found"):
        config.load_params(tmp_path / "nope.yaml")
