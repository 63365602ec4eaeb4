"""The per-clip steps after the gate, as a shard job runs them (talkhead.stages.feature_shard).

A step writes one file of an accepted clip: a modality (`data/features/<clip>/<name>.safetensors`)
or the packed clip (`data/dataset/clips/<clip>.safetensors`). Each step calls the same clip
function as its per-clip stage CLI (talkhead.stages.<name>), so a clip gets exactly the file it gets
on its own. `reads` names what of the same clip a step reads: a pre-gate phase folder (`crop`,
`quality`) or another step's file; `shared` names a file learned over the corpus that it reads
(the 3DMM basis, the video VAE, the speaker's blendshape calibration). Their completion records
make the step's fingerprint (talkhead.stages.feature_shard). `motion` comes from the mesh, or
from LivePortrait's motion extractor when `liveportrait.dir` is set (its weights file is then the
shared file `liveportrait`, and the extractor is loaded once per job).

Steps are grouped into jobs (GROUPS): `features` (needs nothing learned), `learned` (needs the
aggregates fitted on the training split), `pack`. Three jobs per shard after the gate, whatever
the number of modalities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from talkhead.config import (AudioHubertConfig, AudioMelConfig, BlendshapesConfig, Face3dmmConfig, FaceMeshConfig,
                             LiveportraitConfig, SectionConfig, VideoLatentsConfig)
from talkhead.data.manifest import speaker_key

PHASE_FOLDERS = ("crop", "quality")  # pre-gate phases whose clip folders a step may read


@dataclass(frozen=True)
class ClipEntry:
    """One clip of a post-gate shard list: its id and the manifest's speaker, split and emotion."""

    clip: str
    speaker: str = ""
    split: str = ""
    emotion: str = ""


@dataclass
class StepContext:
    """What a shard job shares among its clips: the data root, shared-file paths, models loaded once."""

    data: Path
    shared: dict[str, Path | None] = field(default_factory=dict)  # name → path (None: not used by this config)
    cache: dict[str, object] = field(default_factory=dict)  # models loaded on first use, kept for the shard
    modalities: list[str] = field(default_factory=list)  # the packed modalities, in pack order

    def folder(self, phase: str, clip: str) -> Path:
        return self.data / phase / clip

    def feature(self, name: str, clip: str) -> Path:
        return self.data / "features" / clip / f"{name}.safetensors"

    def shared_path(self, name: str, entry: ClipEntry) -> Path | None:
        """The shared file a step reads for `entry` (calibration: the speaker's own file)."""
        path = self.shared.get(name)
        if name == "calibration" and path is not None:
            return path / f"{speaker_key(entry.speaker)}.json"
        return path


@dataclass(frozen=True)
class FeatureStep:
    """One per-clip step after the gate."""

    name: str
    section: str | None  # its params section (None: it has no params)
    config: type[SectionConfig] | None
    reads: tuple[str, ...]  # phase folders (PHASE_FOLDERS) or other steps of the same clip
    shared: tuple[str, ...]  # shared files it reads (StepContext.shared)
    run: Callable[[StepContext, ClipEntry, Path, SectionConfig | None], dict]
    # Its batched form (a network): encodes every clip of a fixed batch, writes the files whose path is not None.
    run_batch: Callable[[StepContext, list[ClipEntry], list[Path | None], SectionConfig | None], list] | None = None

    def batch_clips(self, cfg: SectionConfig | None) -> int:
        """Clips a shard job encodes in one batch with this step's params (1: one at a time)."""
        return getattr(cfg, "batch_clips", 1) if self.run_batch is not None else 1

    def output(self, ctx: StepContext, clip: str) -> Path:
        if self.name == "pack":
            return ctx.data / "dataset" / "clips" / f"{clip}.safetensors"
        return ctx.feature(self.name, clip)


def _audio_mel(ctx: StepContext, e: ClipEntry, out: Path, cfg) -> dict:
    from talkhead.features.mel import audio_mel_clip

    return audio_mel_clip(ctx.folder("quality", e.clip), out, cfg)


def _face_mesh(ctx: StepContext, e: ClipEntry, out: Path, cfg) -> dict:
    from talkhead.features.mesh import face_mesh_clip

    return face_mesh_clip(ctx.folder("crop", e.clip), ctx.folder("quality", e.clip), out, cfg)


def _head_pose(ctx: StepContext, e: ClipEntry, out: Path, cfg) -> dict:
    from talkhead.features.pose import head_pose_clip

    return head_pose_clip(ctx.feature("face_mesh", e.clip), out)


def _motion(ctx: StepContext, e: ClipEntry, out: Path, cfg) -> dict:
    from talkhead.features.motion import motion_clip

    if cfg is None or not cfg.dir:  # the offline default: measured from the mesh and its pose
        return motion_clip(ctx.feature("face_mesh", e.clip), ctx.feature("head_pose", e.clip), out)
    from talkhead.features import liveportrait_motion

    if "liveportrait_motion" not in ctx.cache:
        ctx.cache["liveportrait_motion"] = liveportrait_motion.load_extractor(cfg)
    return liveportrait_motion.liveportrait_motion_clip(ctx.folder("crop", e.clip), ctx.folder("quality", e.clip),
                                                        out, cfg, extractor=ctx.cache["liveportrait_motion"])


def _hubert_encoder(ctx: StepContext, cfg):
    """The shard job's HuBERT / wav2vec2 encoder, loaded on first use."""
    from talkhead.features.hubert import load_audio_encoder

    if "hubert" not in ctx.cache:
        ctx.cache["hubert"] = load_audio_encoder(cfg.checkpoint, cfg.device, cfg.dtype)
    return ctx.cache["hubert"]


def _audio_hubert(ctx: StepContext, e: ClipEntry, out: Path, cfg) -> dict:
    from talkhead.features.hubert import audio_hubert_clip

    return audio_hubert_clip(ctx.folder("quality", e.clip), out, cfg, encoder=_hubert_encoder(ctx, cfg))


def _audio_hubert_batch(ctx: StepContext, entries: list[ClipEntry], outs: list[Path | None], cfg) -> list:
    from talkhead.features.hubert_batch import audio_hubert_clips

    return audio_hubert_clips([ctx.folder("quality", e.clip) for e in entries], outs, cfg,
                              encoder=_hubert_encoder(ctx, cfg))


def _face3dmm(ctx: StepContext, e: ClipEntry, out: Path, cfg) -> dict:
    from talkhead.features.face3dmm_backend import face3dmm_clip

    return face3dmm_clip(ctx.feature("face_mesh", e.clip), ctx.shared_path("face3dmm_basis", e), out, cfg)


def _blendshapes(ctx: StepContext, e: ClipEntry, out: Path, cfg) -> dict:
    from talkhead.features.blendshapes import blendshapes_clip

    return blendshapes_clip(ctx.feature("face_mesh", e.clip), ctx.shared_path("calibration", e), out, cfg)


def _video_encoder(ctx: StepContext, cfg, model: Path | None):
    """The shard job's video latent encoder (the trained video VAE in `model`, or cfg's AutoencoderKL), loaded once."""
    from talkhead.features.video_latents import load_encoder

    if "video_vae" not in ctx.cache:
        ctx.cache["video_vae"] = load_encoder(cfg, model)
    return ctx.cache["video_vae"]


def _video_latents(ctx: StepContext, e: ClipEntry, out: Path, cfg) -> dict:
    from talkhead.features.video_latents import video_latents_clip

    model = ctx.shared_path("video_vae", e)
    return video_latents_clip(ctx.folder("crop", e.clip), ctx.folder("quality", e.clip), model, out, cfg,
                              encoder=_video_encoder(ctx, cfg, model))


def _video_latents_batch(ctx: StepContext, entries: list[ClipEntry], outs: list[Path | None], cfg) -> list:
    from talkhead.features.video_latents import video_latents_clips

    model = ctx.shared_path("video_vae", entries[0])
    dirs = [(ctx.folder("crop", e.clip), ctx.folder("quality", e.clip)) for e in entries]
    return video_latents_clips(dirs, model, outs, cfg, encoder=_video_encoder(ctx, cfg, model))


def _pack(ctx: StepContext, e: ClipEntry, out: Path, cfg) -> dict:
    from talkhead.data.pack import pack

    features = [ctx.feature(m, e.clip) for m in ctx.modalities]
    labels = {"speaker": e.speaker, "split": e.split, "emotion": e.emotion}
    return pack(features, ctx.folder("crop", e.clip), ctx.folder("quality", e.clip), labels, out)


STEPS: dict[str, FeatureStep] = {s.name: s for s in (
    FeatureStep("audio_mel", "audio_mel", AudioMelConfig, ("quality",), (), _audio_mel),
    FeatureStep("face_mesh", "face_mesh", FaceMeshConfig, ("crop", "quality"), (), _face_mesh),
    FeatureStep("head_pose", None, None, ("face_mesh",), (), _head_pose),
    FeatureStep("motion", "liveportrait", LiveportraitConfig, ("crop", "quality", "face_mesh", "head_pose"),
                ("liveportrait",), _motion),  # from the mesh, or LivePortrait's motion extractor when configured
    FeatureStep("audio_hubert", "audio_hubert", AudioHubertConfig, ("quality",), (), _audio_hubert,
                _audio_hubert_batch),
    FeatureStep("face3dmm", "face3dmm", Face3dmmConfig, ("face_mesh",), ("face3dmm_basis",), _face3dmm),
    FeatureStep("blendshapes", "blendshapes", BlendshapesConfig, ("face_mesh",), ("calibration",), _blendshapes),
    FeatureStep("video_latents", "video_latents", VideoLatentsConfig, ("crop", "quality"), ("video_vae",),
                _video_latents, _video_latents_batch),
    FeatureStep("pack", None, None, ("crop", "quality"), (), _pack),  # + every modality: feature_shard adds them
)}

# The shard jobs after the gate and the steps each runs, in order (audio_hubert only with a checkpoint).
GROUPS: dict[str, tuple[str, ...]] = {
    "features": ("audio_mel", "face_mesh", "head_pose", "motion", "audio_hubert"),
    "learned": ("face3dmm", "blendshapes", "video_latents"),
    "pack": ("pack",),
}
