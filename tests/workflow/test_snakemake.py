"""The Snakemake workflow: lint, dry-run, and a tiny end-to-end run on demo data in a temp folder."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from talkhead.data.dataset import WindowDataset
from talkhead.data.manifest import read_manifest, resolve_local_source
from talkhead.data.featurefile import read_features
from talkhead.media.clip_video import ClipVideo
from talkhead.media.probe import probe
from talkhead.report.funnel import STAGES
from talkhead.report.offline import external_references

from .browser import chromium, dom, screenshot
from .helpers import REPO, Unavailable, snakemake, write_params

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, demo_dataset):
    """A temp working directory with the test params pointing at the tiny demo dataset."""
    wd = tmp_path_factory.mktemp("wf")
    write_params(wd, demo_dataset)
    return wd


def test_lint_is_clean(workdir):
    out = snakemake(workdir, "--lint")
    assert "Congratulations" in out.stdout + out.stderr


def test_dry_run_on_project_params(tmp_path, demo_dataset):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text().replace(
        "data/demo/manifest.csv", str(demo_dataset)))
    out = snakemake(tmp_path, "-n", "--quiet", "rules")
    for rule in ("ingest_shard", "normalize_shard", "faces_shard", "crop_shard", "quality_shard", "qc"):
        assert rule in out.stdout


def test_missing_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "params.yaml").write_text("dataset:\n  manifest: nowhere.csv\n")
    with pytest.raises(AssertionError, match="talkhead demo-data"):
        snakemake(tmp_path, "-n")


def test_a_bad_manifest_stops_with_one_message_naming_each_row(tmp_path):
    manifest = tmp_path / "bad.csv"
    manifest.write_text("clip_id,source,start,end,speaker,split,emotion\n-a,a.mp4,0,1,s,train,\n"
                        "b,b.mp4,nan,1,s,train,\nc,c.mp4,0,inf,s,train,\nd,d.mp4,3,1,s,train,\n"
                        "e,e.mp4,0,1,s,train,\ne,f.mp4,0,1,s,train,\n")
    (tmp_path / "params.yaml").write_text(f"dataset:\n  manifest: {manifest}\n")
    with pytest.raises(AssertionError) as info:
        snakemake(tmp_path, "-n")
    text = str(info.value)
    assert "Traceback" not in text and "nothing was run" in text and "5 problem(s)" in text, text
    for where in ("bad.csv:2: column 'clip_id'", "bad.csv:3: column 'start' must be a finite number",
                  "bad.csv:4: column 'end' must be a finite number", "bad.csv:5: column 'end'",
                  "bad.csv:7: column 'clip_id': duplicate 'e'"):
        assert where in text, (where, text)


def test_invalid_params_name_the_key(tmp_path, demo_dataset):
    write_params(tmp_path, demo_dataset, normalize={"fps": "fast"})
    with pytest.raises(AssertionError, match="fps"):
        snakemake(tmp_path, "-n")


def test_end_to_end_on_demo_data(workdir, demo_dataset):
    snakemake(workdir, "--cores", "2", "all")
    sources = {r.clip_id: resolve_local_source(r, demo_dataset).resolve() for r in read_manifest(demo_dataset)}
    rows = {r["clip"]: r for r in csv.DictReader((workdir / "data/normalize/summary.csv").open())}
    speaking = [c for c in rows if re.fullmatch(r"demo_s\d+_c\d+", c)]
    assert speaking and all(rows[c]["ok"] == "1" for c in speaking)
    for clip in speaking:
        folder = workdir / "data/normalize" / clip
        status = json.loads((folder / "status.json").read_text())
        video = ClipVideo.read(folder)
        assert video.fps == 25 and video.frames == status["details"]["frames"]
        assert Path(video.source).resolve() == sources[clip], "ingest.local: reference reads the original in place"
        assert abs(status["details"]["frames"] - 50) <= 1
        audio, rate = sf.read(folder / "audio.wav", dtype="int16")
        assert rate == 16000 and audio.ndim == 1
        assert len(audio) == status["details"]["frames"] * 16000 // 25
        assert f"normalize {clip}: ok" in (workdir / "logs/normalize/shard00000.log").read_text()
    accepted = {r["clip"] for r in csv.DictReader((workdir / "data/qc/accepted.csv").open())}
    rejected = {r["clip"]: r["reasons"].split("|") for r in csv.DictReader((workdir / "data/qc/rejected.csv").open())}
    assert accepted == set(speaking), (accepted, rejected)
    assert "no_face" in rejected["demo_noface"] and "silent_audio" in rejected["demo_silent"]
    # The gate's per-shard lists are what the jobs after it run on; train.csv what the learned extractors fit on.
    shard_list = list(csv.DictReader((workdir / "data/qc/_shards/shard00000.csv").open()))
    assert {r["clip"] for r in shard_list} == accepted and all(r["ok"] == "1" for r in shard_list)
    assert {r["clip"] for r in csv.DictReader((workdir / "data/qc/train.csv").open())} == accepted
    packed_index = list(csv.DictReader((workdir / "data/dataset/_shards/shard00000.csv").open()))
    assert {r["clip"] for r in packed_index if r["ok"] == "1"} == accepted
    assert (workdir / "data/qc/report/index.html").is_file()
    assert all((workdir / "data/crop" / c / "crop.mp4").is_file() for c in accepted)
    segments = list(csv.DictReader((workdir / "data/qc/segments.csv").open()))
    assert {r["clip"] for r in segments} == accepted  # 2 s demo clips: one whole-clip segment each
    assert all(r["start_frame"] == "0" and int(r["end_frame"]) >= 49 for r in segments)
    for clip in accepted:  # the features phase ran on the accepted clips only
        mel, meta = read_features(workdir / "data/features" / clip / "audio_mel.safetensors")
        assert mel["mel"].shape == (4 * int(meta["frames"]), 80)
        mesh, _ = read_features(workdir / "data/features" / clip / "face_mesh.safetensors")
        assert mesh["points"].shape == (int(meta["frames"]), 478, 3)
        pose, _ = read_features(workdir / "data/features" / clip / "head_pose.safetensors")
        assert pose["euler"].shape == (int(meta["frames"]), 3) and (pose["residual"] < 0.1).all()
        motion, _ = read_features(workdir / "data/features" / clip / "motion.safetensors")
        assert motion["motion"].shape == (int(meta["frames"]), 70)
        mm, mm_meta = read_features(workdir / "data/features" / clip / "face3dmm.safetensors")
        assert mm["expression"].shape == (int(meta["frames"]), int(mm_meta["n_expression"]))
        assert mm["jaw_pose"].shape == (int(meta["frames"]), 3) and mm_meta["extractor"] == "landmark-3dmm"
    assert (workdir / "data/models/face3dmm_basis/basis.safetensors").is_file()
    for clip in accepted:
        vl, vl_meta = read_features(workdir / "data/features" / clip / "video_latents.safetensors")
        assert vl["latents"].shape == (int(vl_meta["frames"]), 4, 8, 8)  # size 32, 2 levels (test params)
        assert vl_meta["extractor"] == "talkhead-video-vae" and vl_meta["checkpoint"].startswith("sha256:")
    assert (workdir / "data/models/video_vae/loss.csv").read_text().startswith("step,loss")
    stats, stats_meta = read_features(workdir / "data/dataset/motion_stats.safetensors")
    assert stats["mean"].shape == (70,) and stats_meta["splits"] == "train"
    assert set(stats_meta["clips"].split(",")) == accepted  # the one demo speaker is in train
    assert not any((workdir / "data/features" / c).exists() for c in rejected)
    meta = pd.read_parquet(workdir / "data/dataset/metadata.parquet")
    assert set(meta["clip"]) == accepted and (meta["frames"] >= 49).all()
    validation = json.loads((workdir / "data/dataset/report/validation.json").read_text())
    assert validation["success"], validation["failed"]  # the feature report is green
    assert (workdir / "data/dataset/report/index.html").is_file()
    item = WindowDataset(workdir / "data/dataset/metadata.parquet", "train", 25,
                         ["audio_mel/mel", "face_mesh/points"])[0]
    assert item["audio_mel/mel"].shape == (100, 80) and item["face_mesh/points"].shape == (25, 478, 3)
    # V3 Face trained in two phases and exported with its streaming filter.
    for phase in ("lipsync", "expression"):
        metrics = json.loads((workdir / "data/models/v3face" / phase / "metrics.json").read_text())
        assert metrics["phase"] == phase and metrics["epoch"] == 2
    export = json.loads((workdir / "data/export/v3face/export.json").read_text())
    assert export["onnx"]["max_abs_diff_vs_torch"] <= 1e-4 and (workdir / "data/export/v3face/v3face.onnx").is_file()
    scores = json.loads((workdir / "data/eval/v3face/metrics.json").read_text())  # evaluated, beside its baselines
    assert scores["split"] == "train" and scores["clips"] == len(accepted)  # one demo speaker: no val split
    assert {"model", "baseline_mean_pose", "baseline_silence", "model_crisp", "onnx_fp32", "onnx_int8"} <= set(scores)
    assert (workdir / "data/eval/v3face/plots/tracks.png").is_file()
    motion_scores = json.loads((workdir / "data/eval/motion_dit/metrics.json").read_text())
    assert {"val_l1", "mouth_env_r_guided", "mouth_env_r_cfg0", "lmd_mediapipe", "lmd_mediapipe_static",
            "sync_c_selftrained"} <= set(motion_scores), sorted(motion_scores)
    assert {"fid_inception", "fvd_i3d", "sync_c_syncnet"} <= set(motion_scores["absent"])  # no networks configured
    # DualForce trained with a falling loss and generated past its training window (docs/dualforce.md).
    df = json.loads((workdir / "data/models/dualforce/metrics.json").read_text())
    assert df["loss_decreased"] and df["best_val_loss"] < df["initial_val_loss"], df
    df_scores = json.loads((workdir / "data/eval/dualforce/metrics.json").read_text())
    assert df_scores["generated_frames"] == 50 > df_scores["window"]  # max(eval_lengths [16, 32], clip 50), window 8
    assert {"consistency_landmark_shape_drift_32", "latent_l1", "structure_l1"} <= set(df_scores)
    assert {"fid_inception", "fvd_i3d"} <= set(df_scores["absent"])
    sample = next((workdir / "data/eval/dualforce/samples").glob("*.mp4"))
    info = probe(sample)  # an mp4 with its audio, as long as what was generated
    assert info["video"]["frames"] == 50 and info["video"]["fps"] == 25 and info["audio"]["codec"] == "aac"
    # The demo speaker's Gaussian head: held-out PSNR well above its initialisation's, LMD measured.
    summary = json.loads((workdir / "data/models/gaussians/metrics.json").read_text())
    heads = summary["speakers"]
    assert len(heads) == 1 == summary["speaker_count"], heads  # gaussians.speakers empty: the first train speaker only
    head = next(iter(heads.values()))
    assert (summary["mean"]["psnr"] == pytest.approx(head["psnr"])
            and summary["mean"]["ssim"] == pytest.approx(head["ssim"]))
    assert head["psnr"] > head["psnr_init"] + 5 and head["ssim"] > head["ssim_init"], head
    assert head["lmd_mediapipe"] > 0 and head["lmd_frames"] > 0
    # The Snakemake report carries the Data Docs (a directory output: the report must be a .zip).
    snakemake(workdir, "--report", "report.zip")
    with zipfile.ZipFile(workdir / "report.zip") as archive:
        names = archive.namelist()
    docs = [n[: -len("index.html")] for n in names if n.endswith("/index.html") and n.startswith("report/data/raw/")]
    assert any(d + "validation.json" in names for d in docs), names[:20]  # the Data Docs site, whole
    files = {n.rsplit("/", 1)[-1] for n in names}  # the evaluation: its plots, a DualForce sample, the metrics table
    assert {"tracks.png", "mouth.png", "consistency.png", "metrics.tsv"} <= files, sorted(files)
    assert any(f.endswith(".mp4") for f in files), sorted(files)
    table = (workdir / "data/eval/metrics.tsv").read_text().splitlines()
    assert table[0] == "source\tmetric\tvalue" and any(r.startswith("eval/v3face\tmodel.val_l1_all\t") for r in table)
    # The dataset report: every rejection reason of the gate with a thumbnail, the plots, the models' metrics.
    report = json.loads((workdir / "data/report/report.json").read_text())
    reasons = {r for rs in rejected.values() for r in rs}
    assert set(report["rejections"]) == reasons and report["funnel"]["accepted"] == len(accepted)
    page = (workdir / "data/report/index.html").read_text()
    for reason in reasons:
        section = page.split(f'id="reason-{reason}"', 1)[1].split('<div class="reason"', 1)[0]
        assert "data:image/jpeg;base64," in section, reason
    assert report["plots"] >= 4 and "model.val_l1_all" not in page and "val_l1_all" in page  # the V3 Face grid
    pages = sorted((workdir / "data").rglob("*.html"))
    assert len(pages) > 5 and not {str(p): external_references(p.read_text()) for p in pages
                                   if external_references(p.read_text())}
    # A second run has nothing to do.
    again = snakemake(workdir, "--cores", "2", "all")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_report_renders_in_headless_chromium(workdir, tmp_path):
    """The report and the gate's Data Docs drawn by a real browser with no network: not blank, the funnel's
    numbers on screen, the Data Docs index table filled in by its (local) script."""
    page = workdir / "data/report/index.html"
    if not page.is_file():
        pytest.skip("needs the pipeline run of test_end_to_end_on_demo_data")
    try:
        browser = chromium()
    except Unavailable as exc:
        pytest.skip(str(exc))
    image = np.asarray(Image.open(screenshot(browser, page, tmp_path / "report.png")).convert("L"), dtype=float)
    assert image.std() > 20 and 0.01 < (image < 128).mean() < 0.6, "a blank or black page"
    funnel = json.loads((workdir / "data/report/report.json").read_text())["funnel"]
    drawn = dom(browser, page)
    for stage in STAGES:
        assert f'data-stage="{stage}">{funnel[stage]}<' in drawn, stage
    docs = dom(browser, workdir / "data/qc/report/index.html")
    body = docs.split("section-1-content-block-2-1-body-table", 1)[1]
    assert body.count("<tr") >= 3 and "accepted_clips" in body and "all_clips" in body  # header + both suites


def test_re_extraction_is_bit_identical(workdir):
    """Force the feature, pack and dataset rules to run again: every file comes out byte for byte the same."""
    snakemake(workdir, "--cores", "2", "all")  # (a no-op when test_end_to_end_on_demo_data ran first)
    folders = [workdir / "data/features", workdir / "data/models", workdir / "data/dataset"]
    before = {p: p.read_bytes() for f in folders for p in sorted(f.rglob("*")) if p.is_file()}
    stamps = {p: p.stat().st_mtime_ns for p in before}
    assert any(p.name == "audio_mel.safetensors" for p in before) and any(p.name == "metadata.parquet" for p in before)
    for record in [p for p in before if p.name.endswith(".done.json")]:  # else the shard jobs skip finished clips
        record.unlink()
    snakemake(workdir, "--cores", "2", "--forcerun", "features_shard", "motion_stats", "face3dmm_basis", "video_vae",
              "blendshape_calibration", "learned_shard", "pack_shard", "dataset", "--", "all")
    after = {p: p.read_bytes() for f in folders for p in sorted(f.rglob("*")) if p.is_file()}
    assert after.keys() == before.keys()
    resumed = [workdir / "data/models" / m
               for m in ("v3face", "motion_dit", "dualforce", "gaussians", "syncnet")]  # a finished run
    resumed.append(workdir / "data/models/microalbert")  # reads text only: no forced rule feeds it, so it is not rerun
    rewritten = [p for p in before if not any(r in p.parents for r in resumed)]  # on the same data resumes
    assert [p for p in rewritten if p.stat().st_mtime_ns <= stamps[p]] == [], "all written again"
    assert [p.name for p in before if before[p] != after[p]] == []


def test_hubert_rule_joins_when_a_checkpoint_is_set(workdir, tmp_path):
    """With audio_hubert.checkpoint set (a tiny HuBERT saved here), every packed clip gains audio_hubert/hidden."""
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    tiny = HubertModel(HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, conv_dim=(16,) * 7))
    tiny.save_pretrained(tmp_path / "hubert")
    override = ["--config", f"audio_hubert={{'checkpoint': '{tmp_path / 'hubert'}'}}"]
    snakemake(workdir, "--cores", "2", *override, "--", "all")
    meta = pd.read_parquet(workdir / "data/dataset/metadata.parquet")
    for clip, frames in zip(meta["clip"], meta["frames"]):
        packed, _ = read_features(workdir / "data/dataset/clips" / f"{clip}.safetensors", keys=["audio_hubert/hidden"])
        assert packed["audio_hubert/hidden"].shape == (2 * frames, 2, 32)  # 2 rows per frame, both layers
    validation = json.loads((workdir / "data/dataset/report/validation.json").read_text())
    assert validation["success"], validation["failed"]


def test_blendshapes_cli_on_the_trained_model_and_its_onnx(workdir, tmp_path):
    """`talkhead blendshapes` on 24-bit 48 kHz stereo audio and on every real speech file, torch and ONNX."""
    import numpy as np

    from talkhead.cli import main as cli
    from talkhead.vocab import ARKIT_NAMES
    from tests.conftest import REAL

    snakemake(workdir, "--cores", "2", "all")  # (a no-op when the end-to-end test ran first)
    t = np.arange(int(2.0 * 48000)) / 48000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)  # bursts of sound
    sf.write(tmp_path / "stereo.wav", np.stack([tone, tone], 1), 48000, subtype="PCM_24")
    audio = [tmp_path / "stereo.wav", *sorted((REAL / "audio").glob("*.wav"))]
    model = workdir / "data/models/v3face/expression"
    onnx = workdir / "data/export/v3face/v3face.onnx"
    for wav in audio:
        for args, fps in ((["--model", str(model), "--crisp"], 25), (["--onnx", str(onnx)], 30),
                          (["--model", str(model)], 60)):
            out = tmp_path / f"{wav.stem}_{fps}.csv"
            assert cli(["blendshapes", "--audio", str(wav), "--out", str(out), "--fps", str(fps), *args]) == 0
            table = pd.read_csv(out)
            seconds = sf.info(wav).duration
            assert list(table.columns) == ["frame", "time_s", *ARKIT_NAMES]
            assert abs(len(table) - seconds * fps) <= fps / 25 + 1
            assert table[list(ARKIT_NAMES)].to_numpy().min() >= 0 and table[list(ARKIT_NAMES)].to_numpy().max() <= 1
    torch_out = pd.read_csv(tmp_path / "stereo_25.csv")["jawOpen"].to_numpy()
    assert torch_out.std() > 0  # the mouth moves with the bursts
    assert cli(["blendshapes", "--audio", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "x.csv"),
                "--model", str(model)]) == 1  # a clear error, no traceback


ONE_FACE = ["face_recognition__obama.jpg", "SadTalker__source_image_happy.png", "SadTalker__source_image_sad1.png",
            "SadTalker__source_image_people_0.png", "hallo__reference_images_3.jpg", "hallo__reference_images_6.jpg",
            "AniPortrait__ref_images_Aragaki.png", "LivePortrait__insightface_Tom_Hanks_54745.png"]


def _plays_with_its_audio(mp4: Path, audio_s: float) -> None:
    """An H.264/AAC mp4 at 25 fps whose video ends within one frame of the audio."""
    from talkhead.media.probe import probe

    info = probe(mp4)
    assert info["video"]["codec"] == "h264" and info["video"]["fps"] == 25.0, info
    assert info["audio"] is not None and info["audio"]["codec"] == "aac", info
    assert abs(info["video"]["frames"] / 25 - audio_s) <= 1 / 25, (info, audio_s)


def test_generate_speaks_portraits(workdir, tmp_path):
    """`talkhead generate` with the demo-trained motion model: the demo portrait from an audio file and from
    --text, every one-face real portrait from real speech; a portrait without a face is a clear error."""
    import numpy as np
    from PIL import Image
    from skimage import data as skdata

    from talkhead.cli import main as cli
    from talkhead.infer.generate import GenerateRequest, generate_video
    from talkhead.render import NoFaceError
    from tests.conftest import REAL

    snakemake(workdir, "--cores", "2", "all")  # (a no-op when the end-to-end test ran first)
    model = workdir / "data/models/motion_dit"
    Image.fromarray(skdata.astronaut()).save(tmp_path / "astronaut.png")
    Image.fromarray(skdata.chelsea()).save(tmp_path / "cat.jpg")
    wav = tmp_path / "speech.wav"
    speech = sorted((REAL / "audio").glob("*.wav"))
    if speech:  # 2 s of real speech, resampled by the tool itself from the file's own rate
        samples, rate = sf.read(speech[0], dtype="float32")
        sf.write(wav, samples[int(0.5 * rate):int(2.5 * rate)], rate)
    else:
        t = np.arange(32000) / 16000
        sf.write(wav, 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0), 16000)
    audio_s = sf.info(wav).duration
    out = tmp_path / "astronaut.mp4"
    assert cli(["generate", "--image", str(tmp_path / "astronaut.png"), "--audio", str(wav), "--out", str(out),
                "--model", str(model), "--emotion", "happiness", "--cfg-scale", "1.5", "--seed", "3"]) == 0
    _plays_with_its_audio(out, audio_s)
    said = tmp_path / "said.mp4"
    assert cli(["generate", "--image", str(tmp_path / "astronaut.png"), "--text", "Hello, my name is Roman.",
                "--out", str(said), "--model", str(model)]) == 0
    from talkhead.media.probe import probe

    _plays_with_its_audio(said, probe(said)["audio"]["duration_s"])
    assert probe(said)["audio"]["duration_s"] > 1.0  # the words were spoken
    assert cli(["generate", "--image", str(tmp_path / "cat.jpg"), "--audio", str(wav), "--out",
                str(tmp_path / "cat.mp4"), "--model", str(model)]) == 1
    with pytest.raises(NoFaceError, match="no face found in"):
        generate_video(GenerateRequest(tmp_path / "cat.jpg", tmp_path / "cat.mp4", audio=wav, model=model))
    assert cli(["generate", "--image", str(tmp_path / "astronaut.png"), "--audio", str(wav), "--out",
                str(tmp_path / "x.mp4"), "--model", str(tmp_path / "no_model")]) == 1
    for name in ONE_FACE if (REAL / "images").is_dir() else []:
        out = tmp_path / f"{Path(name).stem}.mp4"
        assert cli(["generate", "--image", str(REAL / "images" / name), "--audio", str(wav), "--out", str(out),
                    "--model", str(model)]) == 0, name
        _plays_with_its_audio(out, audio_s)
    for name in ("face_recognition__two_people.jpg", "LivePortrait__insightface_t1.jpg",
                 "LivePortrait__source_s25.jpg"):
        if (REAL / "images" / name).is_file():
            assert cli(["generate", "--image", str(REAL / "images" / name), "--audio", str(wav), "--out",
                        str(tmp_path / "refused.mp4"), "--model", str(model)]) == 1, name
