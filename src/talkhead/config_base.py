"""The machinery of talkhead.config: the schema, validation with defaults, params.yaml loading, and the section base.

Import from talkhead.config, which re-exports these names with every section dataclass.

Typed configuration: params.yaml → validated dict (defaults filled from the schema) → frozen dataclasses.

This is the one place where configuration is parsed. Snakemake validates the same schema in
`workflow/rules/common.smk` and hands each stage its section as JSON (`--cfg`); a stage turns that
JSON into its dataclass with `<Section>Config.from_json`. Defaults live only in the schema
(`src/talkhead/schemas/params.schema.yaml`), so the dataclasses cannot drift from it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import jsonschema
import yaml

SCHEMA_NAME = "params.schema.yaml"
T = TypeVar("T", bound="SectionConfig")


class ConfigError(ValueError):
    """A params file or a stage's --cfg does not match the schema."""


@lru_cache(maxsize=None)
def load_schema(name: str = SCHEMA_NAME) -> dict[str, Any]:
    """The JSON schema shipped inside the package (workflow/schemas links to the same files)."""
    text = resources.files("talkhead.schemas").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


_VALIDATORS: dict[int, tuple[dict[str, Any], jsonschema.protocols.Validator]] = {}


def _validator_filling_defaults(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator that writes each property's `default` into the instance.

    Built once per schema object (a manifest validates every row against one schema: building the
    validator class per row made reading 10,000 rows take 25 s and 100,000 six minutes).
    """
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    validator = _build_validator(schema)
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def _build_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, sub_schema):
        if isinstance(instance, dict):
            for key, prop_schema in properties.items():
                if "default" in prop_schema:
                    instance.setdefault(key, copy.deepcopy(prop_schema["default"]))
        yield from check_properties(validator, properties, instance, sub_schema)

    cls = jsonschema.validators.extend(base, {"properties": properties_with_defaults})
    return cls(schema)


def _format_error(err: jsonschema.ValidationError, where: str) -> str:
    key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
    return f"{where}: {key}: {err.message}"


def validate(instance: dict[str, Any], schema: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate `instance` against `schema`, filling defaults; raise ConfigError naming every bad key."""
    filled = copy.deepcopy(instance) if instance is not None else {}
    validator = _validator_filling_defaults(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError("\n".join(_format_error(e, where) for e in errors))
    return filled


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """Read and validate a params file; None gives the schema's defaults."""
    if path is None:
        return validate({}, load_schema(), "defaults")
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return validate(raw or {}, load_schema(), str(path))


@dataclass(frozen=True)
class SectionConfig:
    """Base of every params section: construction from dicts/JSON, checked against the schema."""

    section: ClassVar[str]

    @classmethod
    def from_dict(cls: type[T], values: dict[str, Any] | None) -> T:
        """Validate one section (defaults filled) and build the dataclass."""
        schema = load_schema()["properties"][cls.section]
        filled = validate(values or {}, schema, f"params section '{cls.section}'")
        return cls(**filled)

    @classmethod
    def from_json(cls: type[T], text: str | None) -> T:
        """Build from a stage's --cfg JSON string (None or '' gives the defaults)."""
        if not text:
            return cls.from_dict({})
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--cfg for '{cls.section}' is not valid JSON: {exc}") from None
        return cls.from_dict(values)

    def to_json(self) -> str:
        """The section as compact, key-sorted JSON (what rules pass as --cfg)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))
