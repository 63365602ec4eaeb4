"""A post-gate shard job encoding fixed batches of clips (audio_hubert.batch_clips): the same files as clip by
clip within float16 rounding, batch_clips=1 byte for byte today's, kill -9 and rerun byte-identical, a broken clip
isolated. (video_latents: tests/unit/features/test_video_latents.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from talkhead.config import AudioHubertConfig
from talkhead.data.featurefile import read_features
from talkhead.data.shards import LIST_COLUMNS, read_rows, rows_text
from talkhead.stages.shard import KILL_AFTER_ENV
from tests.unit.features.tiny_hubert import save_tiny, speech_like

FRAMES = (13, 50, 31, 7, 40, 22, 60)  # 7 clips: batches of 3 are (0-2), (3-5), (6), of different lengths
F16_TOL = 2.0 ** -9  # two float16 steps of the scale (tests/unit/features/test_hubert.py: F16_TOL)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shard(tmp_path_factory) -> tuple[Path, Path]:
    """(a tiny HuBERT checkpoint, a data root with quality/<clip>/{audio.wav, quality.json} and the shard's list)."""
    root = tmp_path_factory.mktemp("batch")
    ckpt = save_tiny(root / "hubert")
    data = root / "data"
    rows = []
    for i, frames in enumerate(FRAMES):
        clip = f"c{i}"
        (data / "quality" / clip).mkdir(parents=True)
        sf.write(data / "quality" / clip / "audio.wav", speech_like(frames / 25, seed=i), 16000, subtype="PCM_16")
        quality = {"clip": clip, "verdict": "accept", "reasons": [], "measures": {"frames": frames, "fps": 25}}
        (data / "quality" / clip / "quality.json").write_text(json.dumps(quality))
        rows.append({c: "" for c in LIST_COLUMNS} | {"clip": clip, "ok": "1", "speaker": "s", "split": "train"})
    rows.insert(2, {c: "" for c in LIST_COLUMNS} | {"clip": "rejected", "ok": "0", "reasons": "no_face"})
    (data / "qc/_shards").mkdir(parents=True)
    (data / "qc/_shards/shard00000.csv").write_text(rows_text(rows, LIST_COLUMNS))
    return ckpt, data


def _cfg(ckpt: Path, batch_clips: int) -> str:
    return json.dumps({"checkpoint": str(ckpt), "batch_clips": batch_clips})


def _copy(data: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(data, to / "data")
    return to / "data"


def _run(data: Path, ckpt: Path, batch_clips: int):
    from talkhead.stages.feature_shard import run_group
    from talkhead.stages.feature_steps import StepContext

    clips = data / "qc/_shards/shard00000.csv"
    return run_group("features", read_rows(clips, LIST_COLUMNS), StepContext(data),
                     {"audio_hubert": _cfg(ckpt, batch_clips)}, ["audio_hubert"],
                     data / "features/_shards/shard00000.csv")


def _hidden(data: Path, clip: str) -> np.ndarray:
    return read_features(data / "features" / clip / "audio_hubert.safetensors")[0]["hidden"]


def test_batched_files_equal_clip_by_clip_ones_and_batch_clips_1_is_todays_file(shard, tmp_path):
    from talkhead.features.hubert import audio_hubert_clip

    ckpt, source = shard
    one, three = _copy(source, tmp_path / "one"), _copy(source, tmp_path / "three")
    assert _run(one, ckpt, 1).ran == [f"c{i}" for i in range(len(FRAMES))]
    result = _run(three, ckpt, 3)
    assert result.ran == [f"c{i}" for i in range(len(FRAMES))] and result.steps_run == len(FRAMES)
    assert [r["clip"] for r in result.rows][2] == "rejected"  # passed on in place
    for i in range(len(FRAMES)):
        ref, got = _hidden(one, f"c{i}").astype(np.float32), _hidden(three, f"c{i}").astype(np.float32)
        assert got.shape == ref.shape == (2 * FRAMES[i], 2, 32)
        assert np.abs(got - ref).max() <= F16_TOL * np.abs(ref).max()
    # batch_clips=1 runs today's per-clip step: the per-clip stage's file, byte for byte.
    cfg = AudioHubertConfig.from_json(_cfg(ckpt, 1))
    audio_hubert_clip(source / "quality/c1", tmp_path / "alone.safetensors", cfg)
    assert (one / "features/c1/audio_hubert.safetensors").read_bytes() == (tmp_path / "alone.safetensors").read_bytes()
    # A rerun with the same batches skips every batch; another batch size is another fingerprint.
    assert _run(three, ckpt, 3).steps_run == 0 and _run(one, ckpt, 1).steps_run == 0
    assert _run(one, ckpt, 2).steps_run == len(FRAMES)


def test_kill_9_inside_a_batch_then_rerun_is_byte_identical_to_an_uninterrupted_run(shard, tmp_path):
    ckpt, source = shard
    reference = _copy(source, tmp_path / "ref")
    _run(reference, ckpt, 3)
    data = _copy(source, tmp_path / "killed")

    def cli(env=None):
        cmd = [sys.executable, "-m", "talkhead.stages.feature_shard", "features", "--data", str(data),
               "--clips", str(data / "qc/_shards/shard00000.csv"),
               "--index", str(data / "features/_shards/shard00000.csv"),
               "--modalities", "audio_hubert", "--cfg", json.dumps({"audio_hubert": json.loads(_cfg(ckpt, 3))})]
        return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})

    killed = cli({KILL_AFTER_ENV: "4"})  # after the first batch and one clip of the second: two left with no record
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(list((data / "features").rglob("audio_hubert.safetensors"))) == 6  # the second batch's files
    rerun = cli()
    assert rerun.returncode == 0, rerun.stderr
    assert "(3 steps run, 4 already done)" in rerun.stderr  # the second batch re-encoded whole, two clips written
    assert _tree(reference / "features") == _tree(data / "features")


def test_a_broken_clip_in_a_batch_is_recorded_and_the_others_are_written(shard, tmp_path):
    ckpt, source = shard
    data = _copy(source, tmp_path / "broken")
    (data / "quality/c4/audio.wav").write_bytes(b"not a wav")
    result = _run(data, ckpt, 3)
    assert result.errors == ["c4"] and len(result.ran) == len(FRAMES) - 1
    rows = {r["clip"]: r for r in read_rows(data / "features/_shards/shard00000.csv", LIST_COLUMNS)}
    assert rows["c4"]["ok"] == "0" and rows["c4"]["reasons"] == "stage_error"
    assert not (data / "features/c4").exists()
    for clip in ("c3", "c5"):  # its batch mates: encoded one by one after the batch raised
        assert rows[clip]["ok"] == "1" and (data / "features" / clip / "audio_hubert.safetensors").is_file()
