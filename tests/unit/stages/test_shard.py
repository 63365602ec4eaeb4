"""Shard jobs: stable shard assignment, one process per shard and phase, clip-level resume after kill -9."""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from talkhead.config import FacesConfig
from talkhead.data.manifest import read_manifest
from talkhead.data.shards import (LIST_COLUMNS, files_digest, folder_digest, plan_shards, read_rows, shard_index,
                                  shard_members, shard_name)
from talkhead.data.status import read_status
from talkhead.stages import shard as shard_stage
from talkhead.stages.shard_phases import PHASES, ShardPhase

PRE_GATE = ("ingest", "normalize", "faces", "crop", "quality")
CFG = {"faces": '{"stride": 5}', "crop": '{"size": 128, "preset": "ultrafast", "crf": 28}',
       "quality": '{"min_face_px": 40, "min_blur": 1.0}'}


def test_assignment_follows_row_order_and_survives_appends():
    ids = [f"c{i}" for i in range(7)]
    before = plan_shards(ids, 3)
    assert before == {"shard00000": ["c0", "c1", "c2"], "shard00001": ["c3", "c4", "c5"], "shard00002": ["c6"]}
    after = plan_shards(ids + ["new1", "new2", "new3"], 3)
    for name, members in before.items():  # appending rows never moves a clip
        assert after[name][:len(members)] == members
    assert after["shard00003"] == ["new3"]
    assert shard_members(ids, 3, "shard00001") == ["c3", "c4", "c5"] and shard_members(ids, 3, "shard00009") == []
    assert shard_index(shard_name(123456)) == 123456
    for bad in ("shard1", "s00001", "shard0000x", "../shard00001"):
        with pytest.raises(ValueError):
            shard_index(bad)
    with pytest.raises(ValueError):
        plan_shards(ids, 0)


def test_digest_follows_every_byte_and_name(tmp_path):
    folder = tmp_path / "clip"
    assert folder_digest(folder) == "" and files_digest([]) == ""
    (folder / "sub").mkdir(parents=True)
    (folder / "a.json").write_text("{}")
    (folder / "sub" / ".done.json").write_text('{"fingerprint": "x"}')
    first = folder_digest(folder)
    assert len(first) == 64 and folder_digest(folder) == first
    (folder / "a.json").write_text("{ }")
    assert folder_digest(folder) not in ("", first)
    (folder / "a.json").write_text("{}")
    assert folder_digest(folder) == first
    (folder / "a.json").rename(folder / "b.json")
    assert folder_digest(folder) != first


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def whole_run(demo_dataset, tmp_path_factory):
    """Every pre-gate phase over the demo as one shard, in this process: (data root, results by phase)."""
    data = tmp_path_factory.mktemp("one") / "data"
    rows = read_manifest(demo_dataset)
    results = {p: shard_stage.run_shard(PHASES[p], rows, demo_dataset, data, CFG.get(p, ""),
                                        data / p / "_shards" / "shard00000.csv") for p in PRE_GATE}
    return data, rows, results


def test_one_process_runs_every_phase_and_indexes_the_shard(whole_run):
    data, rows, results = whole_run
    ids = [r.clip_id for r in rows]
    for phase, result in results.items():
        assert result.ran == ids and not result.skipped and not result.errors
        index = read_rows(data / phase / "_shards" / "shard00000.csv")
        assert [r["clip"] for r in index] == ids
        for row in index:
            status = read_status(data / phase / row["clip"])
            assert row["ok"] == str(int(status.ok)) and row["reasons"] == "|".join(status.reasons)
            assert len(row["digest"]) == 64 and row["digest"] == folder_digest(data / phase / row["clip"])
    quality = {r["clip"]: r for r in read_rows(data / "quality/_shards/shard00000.csv")}
    assert quality["demo_s0_c0"]["ok"] == "1"
    assert "no_face" in quality["demo_noface"]["reasons"] and "silent_audio" in quality["demo_silent"]["reasons"]


@pytest.mark.parametrize("phase", ["faces", "crop"])
def test_shared_models_find_what_a_fresh_process_finds(whole_run, tmp_path, phase):
    """The shard job loads its face detector and face mesh once (talkhead.faces.registry.shared_detector,
    shared_mesh): the last clip, run after every other clip of the shard, and the first get the files that the
    phase's CLI writes for the clip alone in a new process (the mesh tracks faces from frame to frame, so this
    also shows that nothing of one clip's tracking reaches the next)."""
    data, rows, _ = whole_run
    for row in (rows[-1], rows[0]):
        out = tmp_path / row.clip_id
        inputs = {"faces": ["--normalize", str(data / "normalize" / row.clip_id)],
                  "crop": ["--faces", str(data / "faces" / row.clip_id),
                           "--normalize", str(data / "normalize" / row.clip_id)]}[phase]
        done = subprocess.run([sys.executable, "-m", f"talkhead.stages.{phase}", *inputs, "--out", str(out),
                               "--cfg", CFG[phase]], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        shard_files = {k: v for k, v in _tree(data / phase / row.clip_id).items() if k != ".done.json"}
        assert _tree(out) == shard_files, row.clip_id


def test_rerun_skips_finished_clips_and_redoes_what_changed(whole_run, demo_dataset):
    data, rows, _ = whole_run
    before = _tree(data)
    again = shard_stage.run_shard(PHASES["faces"], rows, demo_dataset, data, CFG["faces"])
    assert again.skipped == [r.clip_id for r in rows] and not again.ran
    assert _tree(data) == before
    # A changed param of a phase redoes that phase's clips; the phases after it see new upstream records.
    changed = shard_stage.run_shard(PHASES["faces"], rows[:1], demo_dataset, data, '{"stride": 4}')
    assert changed.ran == [rows[0].clip_id]
    crop = shard_stage.run_shard(PHASES["crop"], rows, demo_dataset, data, CFG["crop"])
    assert crop.ran == [rows[0].clip_id] and len(crop.skipped) == len(rows) - 1


def test_a_failing_clip_is_recorded_and_the_shard_goes_on(demo_dataset, tmp_path):
    rows = read_manifest(demo_dataset)
    data = tmp_path / "data"
    for phase in ("ingest", "normalize"):
        shard_stage.run_shard(PHASES[phase], rows, demo_dataset, data, "")
    real = PHASES["faces"]
    victim = rows[0].clip_id

    def flaky(inputs, out, cfg):
        if inputs.row.clip_id == victim:
            raise RuntimeError("detector crashed")
        return real.run(inputs, out, cfg)

    broken = ShardPhase("faces", real.upstream, FacesConfig, flaky)
    result = shard_stage.run_shard(broken, rows, demo_dataset, data, CFG["faces"])
    assert result.errors == [victim] and len(result.ran) == len(rows) - 1
    status = read_status(data / "faces" / victim)
    assert not status.ok and status.reasons == ["stage_error"] and "detector crashed" in status.message
    # Downstream passes the error on as the clip's reason; the next run of the shard tries the clip again.
    shard_stage.run_shard(PHASES["crop"], rows[:1], demo_dataset, data, CFG["crop"])
    assert read_status(data / "crop" / victim).reasons == ["stage_error"]
    retried = shard_stage.run_shard(real, rows, demo_dataset, data, CFG["faces"])
    assert retried.ran == [victim] and read_status(data / "faces" / victim).ok


def _cli(phase, manifest, data, env=None):
    cmd = [sys.executable, "-m", "talkhead.stages.shard", phase, "--manifest", str(manifest), "--shard", "shard00000",
           "--shard-size", "200", "--data", str(data), "--index", str(data / phase / "_shards/shard00000.csv"),
           "--cfg", CFG.get(phase, "")]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_kill_9_mid_shard_then_rerun_redoes_only_unfinished_clips(whole_run, demo_dataset, tmp_path):
    reference, rows, _ = whole_run
    data = tmp_path / "data"
    assert _cli("ingest", demo_dataset, data).returncode == 0
    killed = _cli("normalize", demo_dataset, data, {shard_stage.KILL_AFTER_ENV: "2"})
    assert killed.returncode == -signal.SIGKILL
    done = [r.clip_id for r in rows if (data / "normalize" / r.clip_id / shard_stage.DONE_FILE).is_file()]
    assert done == [r.clip_id for r in rows[:2]] and not (data / "normalize/_shards").exists()
    rerun = _cli("normalize", demo_dataset, data)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(rows) - 2} run, 2 already done, 0 failed" in rerun.stderr
    for phase in ("ingest", "normalize"):
        cmp = filecmp.dircmp(reference / phase, data / phase)
        assert _tree(reference / phase) == _tree(data / phase), cmp.report_full_closure()


def test_bad_shard_name_is_a_clear_error(demo_dataset, tmp_path):
    out = subprocess.run([sys.executable, "-m", "talkhead.stages.shard", "ingest", "--manifest", str(demo_dataset),
                          "--shard", "../x", "--shard-size", "2", "--data", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "not a shard name" in out.stderr and "Traceback" not in out.stderr


# After the gate: talkhead.stages.feature_shard runs groups of per-clip steps over a shard's clip list.

FEATURES = ["audio_mel", "face_mesh", "head_pose", "motion"]


def _post_gate_copy(whole_run, tmp_path) -> tuple[Path, Path]:
    """A copy of the pre-gate data and a clip list: the accepted clip, plus a rejected one wrongly listed as ok."""
    import shutil

    from talkhead.atomic import write_text
    from talkhead.data.shards import rows_text

    data = tmp_path / "data"
    shutil.copytree(whole_run[0], data)
    rows = [{"clip": "demo_s0_c0", "ok": "1", "reasons": "", "speaker": "demo_a", "split": "train", "emotion": ""},
            {"clip": "demo_silent", "ok": "1", "reasons": "", "speaker": "demo_a", "split": "train", "emotion": ""},
            {"clip": "demo_noface", "ok": "0", "reasons": "no_face", "speaker": "demo_cat", "split": "", "emotion": ""}]
    clips = data / "qc/_shards/shard00000.csv"
    write_text(clips, rows_text(rows, LIST_COLUMNS))
    return data, clips


def test_post_gate_steps_resume_per_step_and_record_a_failing_clip(whole_run, tmp_path):
    from talkhead.stages.feature_shard import record_path, run_group
    from talkhead.stages.feature_steps import StepContext

    data, clips = _post_gate_copy(whole_run, tmp_path)
    index = data / "features/_shards/shard00000.csv"
    first = run_group("features", read_rows(clips, LIST_COLUMNS), StepContext(data), {}, FEATURES, index)
    # The rejected clip listed as ok fails in its first step (the gate did not accept it): recorded, shard goes on.
    assert first.ran == ["demo_s0_c0"] and first.errors == ["demo_silent"] and first.steps_run == 4
    rows = {r["clip"]: r for r in read_rows(index, LIST_COLUMNS)}
    assert rows["demo_silent"]["ok"] == "0" and rows["demo_silent"]["reasons"] == "stage_error"
    assert rows["demo_noface"] == {**rows["demo_noface"], "ok": "0", "reasons": "no_face"}  # passed on untouched
    assert not (data / "features/demo_silent").exists() and not (data / "features/demo_noface").exists()
    for name in FEATURES:
        assert record_path(data / "features/demo_s0_c0" / f"{name}.safetensors").is_file()
    before = _tree(data / "features")
    again = run_group("features", read_rows(clips, LIST_COLUMNS), StepContext(data), {}, FEATURES, index)
    assert again.skipped == ["demo_s0_c0"] and again.steps_run == 0 and _tree(data / "features") == before
    # A changed face_mesh param redoes face_mesh and what reads it; audio_mel is kept.
    changed = run_group("features", read_rows(clips, LIST_COLUMNS), StepContext(data),
                        {"face_mesh": '{"sigma_frames": 2.0}'}, FEATURES, index)
    assert changed.steps_run == 3 and changed.steps_skipped == 1
    # The index's digest is that of the clip's step files: the changed face_mesh (and what read it) changes it.
    from talkhead.stages.feature_steps import GROUPS

    outputs = [(name, data / "features/demo_s0_c0" / f"{name}.safetensors") for name in GROUPS["features"]
               if name in FEATURES]
    new = {r["clip"]: r for r in read_rows(index, LIST_COLUMNS)}["demo_s0_c0"]
    assert new["digest"] == files_digest(outputs) and new["digest"] != rows["demo_s0_c0"]["digest"]


def test_post_gate_kill_9_between_steps_then_rerun_is_byte_identical(whole_run, tmp_path):
    from talkhead.stages.feature_shard import run_group
    from talkhead.stages.feature_steps import StepContext

    reference, clips = _post_gate_copy(whole_run, tmp_path / "ref")
    run_group("features", read_rows(clips, LIST_COLUMNS), StepContext(reference), {}, FEATURES,
              reference / "features/_shards/shard00000.csv")
    data, clips = _post_gate_copy(whole_run, tmp_path / "killed")

    def cli(env=None):
        cmd = [sys.executable, "-m", "talkhead.stages.feature_shard", "features", "--clips", str(clips),
               "--data", str(data), "--index", str(data / "features/_shards/shard00000.csv"),
               "--modalities", ",".join(FEATURES)]
        return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})

    killed = cli({shard_stage.KILL_AFTER_ENV: "2"})
    assert killed.returncode == -signal.SIGKILL and not (data / "features/_shards").exists()
    rerun = cli()
    assert rerun.returncode == 0, rerun.stderr
    assert "(2 steps run, 2 already done)" in rerun.stderr  # head_pose and motion were left; mel and mesh kept
    assert _tree(reference / "features") == _tree(data / "features")


def test_batch_sizes_enter_fingerprints_only_off_their_defaults():
    """A network's batch size changes results only to float rounding; at its default it is left out of the
    completion fingerprint, so records written before the param existed still match."""
    assert shard_stage.fingerprinted_params('{"stride": 5, "batch_probes": 1}') == {"stride": 5}
    assert shard_stage.fingerprinted_params('{"batch_probes": 4}') == {"batch_probes": 4}
    assert shard_stage.fingerprinted_params('{"syncnet_batch": 20, "min_blur": 2.5}') == {"min_blur": 2.5}
    assert shard_stage.fingerprinted_params('{"syncnet_batch": 64}') == {"syncnet_batch": 64}
    assert shard_stage.fingerprinted_params('{"batch_clips": 1, "device": "cuda"}') == {"device": "cuda"}
