# Shared helpers: config validation, the clip list, per-clip params. No rules here.
import json
import math
import os
import shlex
import sys

from snakemake.utils import min_version, validate

from talkhead.config import section_config
from talkhead.data.manifest import ManifestError, read_manifest, speaker_key
from talkhead.data.shards import SHARD_PATTERN, plan_shards
from talkhead.data.splits import manifest_splits

min_version("9.0")

validate(config, "../schemas/params.schema.yaml", set_default=True)

# `python` in every rule is the interpreter running Snakemake (the project's venv), also in jobs
# on other nodes, which inherit this PATH.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
ENV = "../envs/talkhead.yaml"


envvars:
    "PATH",

MANIFEST = config["dataset"]["manifest"]

try:
    ROWS = {row.clip_id: row for row in read_manifest(MANIFEST)}
except ManifestError as exc:  # one message naming every bad row and column, then stop: no DAG, no traceback
    hint = "" if os.path.isfile(MANIFEST) else (
        "\nCreate the demo dataset with `talkhead demo-data` (or `make demo`), "
        "or point dataset.manifest in params.yaml at your own manifest.")
    sys.stderr.write(f"talkhead: the manifest is not valid; nothing was run.\n{exc}{hint}\n")
    sys.exit(1)
CLIPS = sorted(ROWS)
# Shards of dataset.shard_size clips in manifest row order: one job per shard and per-clip phase.
SHARD_SIZE = config["dataset"]["shard_size"]
SHARDS = plan_shards(ROWS, SHARD_SIZE)
_ds = config["dataset"]
SPLITS = manifest_splits(ROWS.values(), _ds["split_policy"], _ds["val_fraction"], _ds["test_fraction"], _ds["seed"])


wildcard_constraints:
    clip=r"[A-Za-z0-9_-]+",
    speaker=r"[A-Za-z0-9_-]+",
    shard=SHARD_PATTERN,


# The modalities every packed clip holds (each one a rule in features.smk). HuBERT joins when a
# checkpoint is configured (audio_hubert.checkpoint).
MODALITIES = ["audio_mel", "face_mesh", "head_pose", "motion", "face3dmm", "blendshapes", "video_latents"] + (
    ["audio_hubert"] if config["audio_hubert"]["checkpoint"] else []
)

# The landmark 3DMM fits each clip with the training split's basis; imported EMOCA/DECA needs none.
FACE3DMM_BASIS = ["data/models/face3dmm_basis"] if config["face3dmm"]["backend"] == "landmark" else []
# Video latents come from the video VAE the pipeline trains, unless a diffusers AutoencoderKL is configured.
VIDEO_VAE = ["data/models/video_vae"] if config["video_latents"]["backend"] == "video_vae" else []


# Cluster job groups: per-clip rules carry `group: clip_group(<name>)`, one group id per batch of
# CLIPS_PER_JOB manifest clips (ignored on one machine). Rule-level ids, not the profile's `groups:`,
# because Snakemake 9.27 re-merges already merged group components on every DAG update (docs/cluster.md).
CLIPS_PER_JOB = 50
CLIP_BATCH = {c: i // CLIPS_PER_JOB for i, c in enumerate(CLIPS)}


def clip_group(name):
    """A group function: `<name>_<batch>`, registered under `name` so the profile's group-components apply."""

    def group(wildcards):
        gid = f"{name}_{CLIP_BATCH[wildcards.clip]}"
        workflow.parent_groupids[gid] = name
        return gid

    return group


def gpus(section):
    """1 when a section's `device` is CUDA (the SLURM executor then asks for a GPU), else 0."""
    return int(str(config[section]["device"]).startswith("cuda"))


def feature_files(wildcards):
    """The clip's modality files, in MODALITIES order."""
    return [f"data/features/{wildcards.clip}/{m}.safetensors" for m in MODALITIES]


def stage_cfg(section):
    """A params section as the JSON a stage's --cfg takes (validated, defaults filled)."""
    return section_config(config, section).to_json()


def manifest_row(wildcards):
    """The clip's manifest row as JSON; a param, so editing one row re-runs only that clip."""
    row = ROWS[wildcards.clip]
    return json.dumps(row.__dict__, sort_keys=True)


def shard_indices(phase):
    """Every shard's index of a per-clip phase (data/<phase>/_shards/<shard>.csv), which stands for its clip folders."""
    return expand(f"data/{phase}/_shards/{{shard}}.csv", shard=SHARDS)


def shard_job(phase):
    """A params function: the shard runner's arguments for `phase` (talkhead.stages.shard)."""
    return lambda wildcards: (f"{phase} --manifest {shlex.quote(MANIFEST)} --shard {wildcards.shard}"
                              f" --shard-size {SHARD_SIZE} --data data")


def shard_rows(wildcards):
    """The shard's manifest rows as JSON; a param, so editing a row re-runs its shard (which redoes only that clip)."""
    return json.dumps([ROWS[c].__dict__ for c in SHARDS[wildcards.shard]], sort_keys=True)


def shard_sources(wildcards):
    """The local source files of the shard's clips that exist (a missing one is recorded as unavailable)."""
    from talkhead.data.manifest import resolve_local_source

    paths = (resolve_local_source(ROWS[c], MANIFEST) for c in SHARDS[wildcards.shard]
             if ROWS[c].source_kind() == "local")
    return [str(p) for p in paths if p.is_file()]


def shard_minutes(per_clip):
    """A shard job's runtime (minutes): `per_clip` × the shard's clips × the attempt (a retried job gets more)."""
    return lambda wildcards, attempt: math.ceil(per_clip * len(SHARDS[wildcards.shard])) * attempt


def scaled(mem_mb):
    """`mem_mb` × the attempt: a job killed for memory comes back with 2×, then 3×."""
    return lambda wildcards, attempt: mem_mb * attempt


def accepted():
    """The clips the quality gate accepted (call only from input functions: it waits for the checkpoint)."""
    import csv

    with open(checkpoints.qc.get().output.accepted, newline="") as fh:
        return [row["clip"] for row in csv.DictReader(fh)]


def accepted_files(pattern):
    """An input function: `pattern` (with {clip}) for every accepted clip."""

    def files(wildcards):
        return expand(pattern, clip=accepted())

    return files


def train_files(pattern):
    """An input function: `pattern` for the accepted training-split clips (every accepted clip when none is)."""

    def files(wildcards):
        clips = accepted()
        return expand(pattern, clip=[c for c in clips if SPLITS[c] == "train"] or clips)

    return files


def splits_json(wildcards=None):
    """Every manifest clip's split as JSON (a param: the learning rules record what they were fitted on)."""
    return json.dumps(SPLITS, sort_keys=True)


def speaker_meshes(wildcards):
    """The face_mesh files of the accepted clips of speaker key {speaker}."""
    return [f"data/features/{c}/face_mesh.safetensors" for c in accepted()
            if speaker_key(ROWS[c].speaker) == wildcards.speaker]


def speaker_id(wildcards):
    """The manifest's speaker id behind key {speaker}."""
    return next(r.speaker for r in ROWS.values() if speaker_key(r.speaker) == wildcards.speaker)


def clip_calibration(wildcards):
    """The blendshape calibration of the clip's speaker."""
    return f"data/features/_calibration/{speaker_key(ROWS[wildcards.clip].speaker)}.json"


def accepted_clips(phase):
    """An input function: the folders of `phase` for the accepted clips."""
    return accepted_files(f"data/{phase}/{{clip}}")


def folder_of(key, of="output"):
    """A params function: the folder of the rule's named `output` (or `input`) file."""
    return lambda wildcards, input, output: os.path.dirname((output if of == "output" else input)[key])
