"""The params sections of the models: training, export and evaluation (V3 Face, SyncNet, the motion DiT,
DualForce, the Gaussian heads).

Part of talkhead.config, which imports every section from here: import them from talkhead.config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from talkhead.config_base import SectionConfig


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
    speaking_images: str
    speaking_audio: str


@dataclass(frozen=True)
class ReportConfig(SectionConfig):
    """What the dataset report (data/report/index.html) shows; its size does not grow with the clips."""

    section: ClassVar[str] = "report"
    thumbnails_per_reason: int
    max_speakers: int
    bins: int


@dataclass(frozen=True)
class MicroalbertConfig(SectionConfig):
    """MicroAlbert: the text → VAD student, its teacher, corpus, distillation, export and evaluation."""

    section: ClassVar[str] = "microalbert"
    size: str
    vocab_size: int
    teacher_checkpoint: str
    teacher_outputs: str
    teacher_map: dict
    teacher_scale: float
    corpus_files: list[str]
    augment_per_sentence: int
    lexicon_words: bool
    template_sentences: int
    val_fraction: float
    test_fraction: float
    loss: str
    temperature: float
    embedding_weight: float
    soft_labels: bool
    batch_size: int
    lr: float
    epochs: int
    dropout: float
    seed: int
    device: str
    quantize_above_mb: float
    latency_tokens: int
    latency_runs: int


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
