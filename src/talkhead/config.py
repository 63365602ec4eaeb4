"""Typed configuration: params.yaml → validated dict (defaults filled from the schema) → frozen dataclasses.

This is the one place where configuration is parsed. Snakemake validates the same schema in
`workflow/rules/common.smk` and hands each stage its section as JSON (`--cfg`); a stage turns that
JSON into its dataclass with `<Section>Config.from_json`. Defaults live only in the schema
(`src/talkhead/schemas/params.schema.yaml`), so the dataclasses cannot drift from it.

Three modules, one import point: the machinery (schema, validation, loading, the section base) is in
talkhead.config_base, the model sections in talkhead.config_models, the data-phase sections and the
section registry here; every name is importable from talkhead.config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from talkhead.config_base import (SCHEMA_NAME, ConfigError, SectionConfig, load_params, load_schema,  # noqa: F401
                                  validate)
from talkhead.config_models import (DualforceConfig, EvaluateConfig, GaussiansConfig, MotionDitConfig,  # noqa: F401
                                    MicroalbertConfig, ReportConfig, SyncnetConfig, V3faceConfig,
                                    V3faceExportConfig)


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
    shard_size: int


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
    """Fetching sources: retries, and how local files are taken (reference, copy, hardlink)."""

    section: ClassVar[str] = "ingest"
    retries: int
    backoff_s: float
    local: str


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
    batch_probes: int


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
    av_folds: int
    av_min_speech_s: float
    av_correct: bool
    av_uncertain: str
    syncnet_path: str
    syncnet_device: str
    syncnet_batch: int
    syncnet_min_confidence: float
    syncnet_max_offset: int
    cut_policy: str
    max_scene_cuts: int
    segment_min_s: float
    segment_max_s: float


@dataclass(frozen=True)
class AvCorpusConfig(SectionConfig):
    """The corpus-level second A/V pass."""

    section: ClassVar[str] = "av_corpus"
    enabled: str | bool  # "auto", True or False
    min_clips: int
    min_speakers: int
    folds: int
    components: int
    context: int
    ridge: float
    window_s: float
    tolerance: int
    gross_margin: float


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
    batch_clips: int  # clips encoded in one batch by a shard job (talkhead.stages.feature_shard)


@dataclass(frozen=True)
class LiveportraitConfig(SectionConfig):
    """LivePortrait's official weights (a folder in the release layout); off while `dir` is empty."""

    section: ClassVar[str] = "liveportrait"
    dir: str
    device: str
    dtype: str
    batch_size: int


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
    batch_clips: int  # clips encoded in one batch by a shard job (talkhead.stages.feature_shard)


SECTIONS: dict[str, type[SectionConfig]] = {
    cls.section: cls for cls in (DatasetConfig, DemoConfig, IngestConfig, NormalizeConfig, FacesConfig,
                                 CropConfig, QualityConfig, AvCorpusConfig, AudioMelConfig, FaceMeshConfig,
                                 AudioHubertConfig, LiveportraitConfig,
                                 BlendshapesConfig, Face3dmmConfig, VideoVaeConfig, VideoLatentsConfig,
                                 V3faceConfig, V3faceExportConfig, EvaluateConfig, ReportConfig, SyncnetConfig,
                                 MotionDitConfig, GaussiansConfig, DualforceConfig, MicroalbertConfig)
}


def section_config(params: dict[str, Any], name: str) -> SectionConfig:
    """The dataclass of one section of an already validated params dict."""
    try:
        cls = SECTIONS[name]
    except KeyError:
        raise ConfigError(f"unknown params section '{name}' (known: {', '.join(SECTIONS)})") from None
    return cls.from_dict(params.get(name, {}))
