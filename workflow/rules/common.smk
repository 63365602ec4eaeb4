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


def gpus(section, key="device"):
    """1 when a section's device (`key`) is CUDA (the SLURM executor then asks for a GPU), else 0."""
    return int(str(config[section][key]).startswith("cuda"))


def stage_cfg(section):
    """A params section as the JSON a stage's --cfg takes (validated, defaults filled)."""
    return section_config(config, section).to_json()


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


_MANIFEST_DIR = os.path.dirname(os.path.realpath(MANIFEST))  # relative sources are read from here


def shard_sources(wildcards):
    """The local source files of the shard's clips that exist (a missing one is recorded as unavailable).

    The same paths as talkhead.data.manifest.resolve_local_source, in plain os.path (planning calls this
    for every clip: pathlib's resolve per row made it a third of a 100,000-clip plan)."""
    paths = (os.path.join(_MANIFEST_DIR, os.path.expanduser(ROWS[c].source)) for c in SHARDS[wildcards.shard]
             if ROWS[c].source_kind() == "local")
    return [p for p in paths if os.path.isfile(p)]


def shard_minutes(per_clip, clips=None):
    """A job's runtime (minutes): `per_clip` × the shard's clips (or `clips`) × the attempt (a retry gets more)."""
    return lambda wildcards, attempt: max(5, math.ceil(per_clip * len(clips or SHARDS[wildcards.shard]))) * attempt


def feature_job(group):
    """The post-gate shard job's arguments (talkhead.stages.feature_shard): its group, data root, modalities."""
    return f"{group} --data data --modalities {','.join(MODALITIES)}"


def stage_cfgs(*sections):
    """Several params sections as one JSON object {section: params} (a post-gate shard job's --cfg)."""
    return json.dumps({s: json.loads(stage_cfg(s)) for s in sections}, sort_keys=True)


# Local order of the trainings (no effect on SLURM). Snakemake starts the jobs of highest summed priority,
# so a two-thread job outranks any pair of one-thread ones: DualForce, then V3 Face's chain, then the
# one-thread trainings two at a time (else a two-thread job waits with a core idle; demo: 560 → 468 s).
PRIORITY = {"dualforce": 1000, "v3face": 100, "motion_dit": 20, "evaluate_dualforce": 20, "gaussians": 10}


def minutes(n):
    """A runtime of `n` minutes × the attempt: a job killed for time comes back with 2×, then 3×."""
    return lambda wildcards, attempt: n * attempt


def scaled(mem_mb):
    """`mem_mb` × the attempt: a job killed for memory comes back with 2×, then 3×."""
    return lambda wildcards, attempt: mem_mb * attempt


def accepted():
    """The clips the quality gate accepted (only train_gaussians' default speaker needs them at planning time)."""
    import csv

    with open(checkpoints.qc.get().output.accepted, newline="") as fh:
        return [row["clip"] for row in csv.DictReader(fh)]


def speaker_id(wildcards):
    """The manifest's speaker id behind key {speaker}."""
    return next(r.speaker for r in ROWS.values() if speaker_key(r.speaker) == wildcards.speaker)


def folder_of(key, of="output"):
    """A params function: the folder of the rule's named `output` (or `input`) file."""
    return lambda wildcards, input, output: os.path.dirname((output if of == "output" else input)[key])
