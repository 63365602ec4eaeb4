"""Typed configuration: params.yaml → validated dict (defaults filled from the schema) → frozen dataclasses.

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


def _validator_filling_defaults(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator that writes each property's `default` into the instance."""
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


@dataclass(frozen=True)
class DatasetConfig(SectionConfig):
    """Which manifest the pipeline runs on."""

    section: ClassVar[str] = "dataset"
    name: str
    manifest: str
    split_policy: str
    val_fraction: float
    test_fraction: float
    seed: int


@dataclass(frozen=True)
class DemoConfig(SectionConfig):
    """Size and content of the bundled demo dataset."""

    section: ClassVar[str] = "demo"
    speakers: int
    clips_per_speaker: int
    seconds: float
    size: int
    negatives: bool
    seed: int


@dataclass(frozen=True)
class IngestConfig(SectionConfig):
    """Fetching sources: retries and linking."""

    section: ClassVar[str] = "ingest"
    retries: int
    backoff_s: float
    link_local: bool


@dataclass(frozen=True)
class NormalizeConfig(SectionConfig):
    """Target frame rate and audio sample rate of the normalized clip."""

    section: ClassVar[str] = "normalize"
    fps: int
    sample_rate: int


@dataclass(frozen=True)
class FacesConfig(SectionConfig):
    """Face detection backend, stride, tracking and scene-cut settings."""

    section: ClassVar[str] = "faces"
    detector: str
    score_threshold: float
    stride: int
    max_gap_s: float
    smooth_s: float
    min_rel_size: float
    retinaface_weights: str
    retinaface_network: str
    device: str
    cut_threshold: float
    min_shot_s: float
    speaker: str
    speaker_max_lag: int


@dataclass(frozen=True)
class CropConfig(SectionConfig):
    """The stable square crop and its encoder."""

    section: ClassVar[str] = "crop"
    size: int
    scale: float
    smooth_s: float
    crf: int
    preset: str
    blur_every: int


@dataclass(frozen=True)
class QualityConfig(SectionConfig):
    """Thresholds of the quality gate."""

    section: ClassVar[str] = "quality"
    min_duration_s: float
    min_face_coverage: float
    min_face_px: float
    min_face_frac: float
    max_multi_face_rate: float
    multiple_faces: str
    min_blur: float
    silence_db: float
    min_speech_fraction: float
    vad_threshold: float
    av_max_lag: int
    av_tolerance: int
    av_min_confidence: float
    av_correct: bool
    cut_policy: str
    max_scene_cuts: int
    segment_min_s: float
    segment_max_s: float


@dataclass(frozen=True)
class AudioMelConfig(SectionConfig):
    """Log-mel extraction."""

    section: ClassVar[str] = "audio_mel"
    backend: str


@dataclass(frozen=True)
class FaceMeshConfig(SectionConfig):
    """Face-mesh gap filling and smoothing."""

    section: ClassVar[str] = "face_mesh"
    sigma_frames: float


@dataclass(frozen=True)
class AudioHubertConfig(SectionConfig):
    """HuBERT / wav2vec2 features; off while `checkpoint` is empty."""

    section: ClassVar[str] = "audio_hubert"
    checkpoint: str
    layers: list[int]
    chunk_s: float
    overlap_s: float
    device: str
    dtype: str


@dataclass(frozen=True)
class BlendshapesConfig(SectionConfig):
    """Blendshape solving and the optional ground-truth smoothing."""

    section: ClassVar[str] = "blendshapes"
    smooth_targets: bool
    gamma: float
    sigma: float
    fade: int


@dataclass(frozen=True)
class Face3dmmConfig(SectionConfig):
    """The landmark 3DMM (PCA basis on the training split) or imported EMOCA/DECA parameters."""

    section: ClassVar[str] = "face3dmm"
    backend: str
    n_expression: int
    import_dir: str


@dataclass(frozen=True)
class VideoVaeConfig(SectionConfig):
    """Size and training of the offline video autoencoder."""

    section: ClassVar[str] = "video_vae"
    size: int
    levels: int
    channels: int
    latent_channels: int
    steps: int
    batch_size: int
    frames: int
    lr: float
    kl_weight: float
    seed: int
    device: str


@dataclass(frozen=True)
class VideoLatentsConfig(SectionConfig):
    """Which autoencoder encodes the crops, and how."""

    section: ClassVar[str] = "video_latents"
    backend: str
    checkpoint: str
    size: int
    batch_frames: int
    device: str
    dtype: str


@dataclass(frozen=True)
class V3faceConfig(SectionConfig):
    """V3 Face: model size, inputs and the two training phases."""

    section: ClassVar[str] = "v3face"
    size: str
    audio: str
    cond_dim: int
    lookahead: int
    target: str
    window: int
    batch_size: int
    lr: float
    epochs_lipsync: int
    epochs_expression: int
    steps_per_epoch: int
    loss: str
    velocity_weight: float
    velocity_warmup_epochs: int
    brow_velocity_weight: float
    seed: int
    device: str
    nproc: int  # processes under torchrun; each draws batch_size / nproc of every global batch


@dataclass(frozen=True)
class V3faceExportConfig(SectionConfig):
    """The crisp_mouth filters (offline and streaming) and the ONNX export."""

    section: ClassVar[str] = "v3face_export"
    crisp_sigma: float
    crisp_threshold: float
    crisp_scale: float
    alpha: float
    edge0: float
    edge1: float
    opset: int
    quantize_above_mb: float


@dataclass(frozen=True)
class EvaluateConfig(SectionConfig):
    """What the evaluate phase scores and plots."""

    section: ClassVar[str] = "evaluate"
    plot_channels: list[str]
    onnx_int8: bool
    onnx_chunk_frames: int
    inception_path: str
    inception_input_range: str
    i3d_path: str
    i3d_input_range: str
    i3d_min_frames: int
    syncnet_path: str
    sync_max_offset: int


@dataclass(frozen=True)
class SyncnetConfig(SectionConfig):
    """The self-trained SyncNet-style scorer and its training."""

    section: ClassVar[str] = "syncnet"
    steps: int
    batch: int
    window: int
    max_shift: int
    lr: float
    temperature: float
    seed: int
    check_shift: int
    hidden: int
    dim: int
    threads: int


@dataclass(frozen=True)
class MotionDitConfig(SectionConfig):
    """The MoDA-style motion generator: model size, flow matching, CFG, training and post-processing."""

    section: ClassVar[str] = "motion_dit"
    size: str
    audio: str
    n_pred: int
    n_prev: int
    batch_size: int
    lr: float
    epochs: int
    steps_per_epoch: int
    time_sampling: str
    time_shift: float
    audio_drop: float
    emotion_drop: float
    prev_drop: float
    sample_steps: int
    cfg_scale: float
    kalman_process: float
    kalman_measurement: float
    lip_alpha: float
    lip_beta: float
    seed: int
    device: str


@dataclass(frozen=True)
class GaussiansConfig(SectionConfig):
    """The per-identity 3D-Gaussian talking head (GaussianTalker-style): data, stages, densification, network."""

    section: ClassVar[str] = "gaussians"
    speakers: list[str]
    size: int
    holdout: float
    coarse_iterations: int
    fine_iterations: int
    lr: float
    deform_lr: float
    shell: int
    densify_from: int
    densify_until: int
    densify_every: int
    densify_grad: float
    max_gaussians: int
    mouth_weight: float
    eval_every: int
    eval_frames: int
    checkpoint_every: int
    plane_res: int
    plane_dim: int
    dim: int
    audio_context: int
    rasterizer: str
    lmd: bool
    seed: int
    device: str


@dataclass(frozen=True)
class DualforceConfig(SectionConfig):
    """DualForce (talkhead.models.video_df): size, bridge, diffusion forcing, losses, sampling, launch, evaluation."""

    section: ClassVar[str] = "dualforce"
    size: str
    bridge_layers: int
    audio: str
    window: int
    stride: int
    batch_size: int
    lr: float
    epochs: int
    steps_per_epoch: int
    time_sampling: str
    time_shift: float
    context_prob: float
    audio_drop: float
    loss_video: float
    loss_struct: float
    loss_lip: float
    sample_steps: int
    sample_lag: int
    cfg_scale: float
    eval_lengths: list[int]
    eval_clips: int
    seed: int
    device: str
    nproc: int
    strategy: str


SECTIONS: dict[str, type[SectionConfig]] = {
    cls.section: cls for cls in (DatasetConfig, DemoConfig, IngestConfig, NormalizeConfig, FacesConfig,
                                 CropConfig, QualityConfig, AudioMelConfig, FaceMeshConfig, AudioHubertConfig,
                                 BlendshapesConfig, Face3dmmConfig, VideoVaeConfig, VideoLatentsConfig,
                                 V3faceConfig, V3faceExportConfig, EvaluateConfig, SyncnetConfig,
                                 MotionDitConfig, GaussiansConfig, DualforceConfig)
}


def section_config(params: dict[str, Any], name: str) -> SectionConfig:
    """The dataclass of one section of an already validated params dict."""
    try:
        cls = SECTIONS[name]
    except KeyError:
        raise ConfigError(f"unknown params section '{name}' (known: {', '.join(SECTIONS)})") from None
    return cls.from_dict(params.get(name, {}))
