"""The Snakemake pipeline over a manifest of every real fixture video: it completes, the gate's tables
match expected.csv, the HTML reports are written and green, the run continues with the accepted clips
only, and every accepted clip's jawOpen follows its loudness (lip-sync sanity of the features); then V3 Face
trains on their real speech, and its streaming crisp_mouth matches the offline filter within the stated ε; and
one speaker's Gaussian head (train_gaussians) reproduces its held-out frames far better than its initialisation."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import soundfile as sf
import yaml

from talkhead.data.featurefile import read_features
from talkhead.vocab import ARKIT_NAMES
from tests.workflow.helpers import REPO, snakemake

pytestmark = [pytest.mark.realdata, pytest.mark.workflow]


# One speaker's Gaussian head on its accepted real clip, at the pipeline's 128 px crop; < 3 min on one core.
GAUSSIANS_CLIP = "videos/video-retalking__face_2.mp4"
GAUSSIANS_REAL = {"size": 128, "coarse_iterations": 200, "fine_iterations": 150, "shell": 300, "densify_from": 40,
                  "densify_until": 200, "densify_every": 40, "max_gaussians": 1500, "eval_every": 50,
                  "eval_frames": 8, "checkpoint_every": 100, "plane_res": 32, "plane_dim": 16, "dim": 32}


def _speaker_of(rows: list[dict], file: str) -> str:
    return next(f"spk{i}" for i, row in enumerate(rows) if row["file"] == file)


def _gaussian_head_learns(workdir, speaker):
    """The Gaussian head of one real speaker: held-out PSNR well above the initialisation's; LMD reported."""
    from talkhead.data.manifest import speaker_key

    m = json.loads((workdir / "data/models/gaussians/metrics.json").read_text())["speakers"][speaker]
    print("gaussians on", speaker, {k: m[k] for k in ("psnr_init", "psnr_coarse", "psnr", "ssim_init", "ssim",
                                                     "lmd_mediapipe", "lmd_mediapipe_static", "gaussians")})
    assert m["psnr"] > m["psnr_init"] + 5.0 and m["ssim"] > m["ssim_init"] + 0.1, m
    assert "lmd_mediapipe" in m and "lmd_mediapipe_static" in m  # reported, whatever they are
    assert (workdir / "data/models/gaussians" / speaker_key(speaker) / "head.safetensors").is_file()


def _clip_id(rel: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", rel.rsplit("/", 1)[-1][:-4])


@pytest.mark.timeout(1800)  # the whole pipeline on 13 real clips and four models on 2 cores: beyond the default 900 s
def test_pipeline_over_the_real_clips(real_media, tmp_path):
    rows = list(csv.DictReader((real_media / "expected.csv").open()))
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["clip_id", "source", "start", "end", "speaker", "split"])
        for i, row in enumerate(rows):
            writer.writerow([_clip_id(row["file"]), str(real_media / row["file"]), 0, "", f"spk{i}", "train"])
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dataset"]["manifest"] = str(manifest)
    params["crop"].update(size=128, preset="ultrafast")  # the gate's measures do not depend on the crop size
    # Six accepted clips are below auto's corpus size: run the second A/V pass anyway. The per-clip measure
    # cannot vouch for the 400 ms lag copy's offset (uncertain, kept unshifted); the corpus pass must catch it.
    params["av_corpus"].update(enabled=True)
    params["v3face"].update(size="small", epochs_lipsync=15, epochs_expression=5)  # a model that moves
    params["gaussians"].update(GAUSSIANS_REAL, speakers=[_speaker_of(rows, GAUSSIANS_CLIP)])
    params["dualforce"].update(size="tiny", epochs=3, eval_lengths=[32, 64], eval_clips=1)  # it runs on real data
    # Not judged here (their own tests train them): the motion DiT and the video VAE at the smallest settings that
    # run on real clips, which saves ~15 of this test's ~30 minutes on 2 cores.
    params["motion_dit"].update(size="tiny", epochs=2)
    params["video_vae"].update(size=32, levels=2, steps=20)
    params["microalbert"].update(size="tiny", vocab_size=400, augment_per_sentence=0, lexicon_words=False,
                                 template_sentences=100, epochs=2, latency_runs=20)  # text only: nothing real here
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    # the data phases, the models, the report
    snakemake(tmp_path, "--profile", str(REPO / "workflow/profiles/default"), "--cores", "2", "features", "dataset",
              "export", "evaluate", "train_gaussians", "report", timeout=1800)

    accepted = {r["clip"] for r in csv.DictReader((tmp_path / "data/qc/accepted.csv").open())}
    rejected = {r["clip"]: set(r["reasons"].split("|"))
                for r in csv.DictReader((tmp_path / "data/qc/rejected.csv").open())}
    assert len(accepted) + len(rejected) == len(rows)
    for row in rows:
        clip = _clip_id(row["file"])
        allowed = set(filter(None, row["reasons_allowed"].split("|")))
        if row["verdict"] == "accept":
            assert clip in accepted, (clip, rejected.get(clip))
        elif row["verdict"] == "reject":
            assert clip in rejected and rejected[clip] <= allowed, (clip, rejected.get(clip), allowed)
        elif clip in rejected:
            assert rejected[clip] <= allowed, (clip, rejected[clip], allowed)
    assert (tmp_path / "data/qc/report/index.html").is_file()
    segments = {r["clip"] for r in csv.DictReader((tmp_path / "data/qc/segments.csv").open())}
    assert segments == accepted, "only accepted clips go on"
    lag = _clip_id("videos/DERIVED__video-retalking__face_2__audio_lag_400ms.mp4")
    assert rejected.get(lag) == {"av_offset"}, ("the second A/V pass rejects the audio-lag copy", rejected.get(lag))
    validation = json.loads((tmp_path / "data/dataset/report/validation.json").read_text())
    assert validation["success"], validation["failed"]  # the feature report is green on real clips
    _report_shows_every_real_rejection(tmp_path, rejected)
    _jaw_follows_loudness(tmp_path, accepted)
    _pose_and_3dmm_are_sane(tmp_path, accepted)
    _streaming_crisp_matches_offline(tmp_path)
    _gaussian_head_learns(tmp_path, _speaker_of(rows, GAUSSIANS_CLIP))


def _report_shows_every_real_rejection(workdir, rejected):
    """The dataset report over the real clips: every reason the gate gave, each with a thumbnail of a sampled
    clip (a reason for damaged or missing media may have none: its clips may have no decodable frame)."""
    report = json.loads((workdir / "data/report/report.json").read_text())
    reasons = {r for rs in rejected.values() for r in rs}
    assert set(report["rejections"]) == reasons, report["rejections"]
    page = (workdir / "data/report/index.html").read_text()
    for reason in reasons:
        section = page.split(f'id="reason-{reason}"', 1)[1].split('<div class="reason"', 1)[0]
        if reason not in ("unreadable", "unavailable", "corrupt_stream", "stage_error"):
            assert "data:image/jpeg;base64," in section, reason


def _streaming_crisp_matches_offline(workdir):
    """V3 Face trained on the real clips: its calibrated streaming crisp_mouth is within the stated ε of the
    offline --crisp on their real speech, and the streamed graph scores as the offline model with crisp does."""
    from talkhead.export.v3face import STREAMING_EPSILON

    export = json.loads((workdir / "data/export/v3face/export.json").read_text())
    crisp = export["streaming_crisp"]
    print("streaming crisp on real speech:", crisp)
    assert len(crisp["calibration_clips"]) >= 5 and crisp["epsilon"] == STREAMING_EPSILON
    assert crisp["mean_abs_error_vs_offline"] <= STREAMING_EPSILON
    metrics = json.loads((workdir / "data/eval/v3face/metrics.json").read_text())
    print("V3 Face on the real clips (train split):", {k: metrics[k] for k in ("model", "model_crisp", "onnx_fp32")})
    assert abs(metrics["onnx_fp32"]["val_l1_lipsync"] - metrics["model_crisp"]["val_l1_lipsync"]) <= STREAMING_EPSILON


def _best_r(jaw: np.ndarray, env: np.ndarray, max_lag: int = 3) -> tuple[float, int]:
    """Best Pearson r of jaw[t] with env[t + lag] over |lag| <= max_lag, and that lag."""
    n = min(len(jaw), len(env))
    best = (-1.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        x, y = jaw[max(0, -lag):n - max(0, lag)], env[max(0, lag):n + min(0, lag)]
        best = max(best, (float(np.corrcoef(x, y)[0, 1]), lag))
    return best


def _loudness(workdir, clip: str, frames: int) -> np.ndarray:
    """(frames,) log RMS of the clip's A/V-aligned audio per video frame."""
    audio, rate = sf.read(workdir / "data/quality" / clip / "audio.wav", dtype="float32")
    hop = rate // 25
    return np.log(np.sqrt([np.mean(audio[i * hop:(i + 1) * hop] ** 2) + 1e-12 for i in range(frames)]) + 1e-4)


def _pose_and_3dmm_are_sane(workdir, accepted):
    """Head pose fits well, motion is finite, the 3DMM's jaw follows the loudness as jawOpen does."""
    report = {}
    for clip in sorted(accepted):
        t, _ = read_features(workdir / "data/dataset/clips" / f"{clip}.safetensors",
                             keys=["head_pose/residual", "head_pose/euler", "motion/motion", "face3dmm/jaw_pose",
                                   "video_latents/latents"])
        jaw = t["face3dmm/jaw_pose"][:, 0]
        r, lag = _best_r(jaw, _loudness(workdir, clip, len(jaw)))
        report[clip] = {"residual": round(float(np.median(t["head_pose/residual"])), 4),
                        "yaw_range": round(float(np.ptp(t["head_pose/euler"][:, 1])), 1),
                        "jaw_r": round(r, 2), "jaw_lag": lag}
        assert np.isfinite(t["motion/motion"]).all() and np.isfinite(t["video_latents/latents"]).all()
    print("head pose and 3DMM jaw:", report)
    assert all(v["residual"] < 0.08 for v in report.values()), report
    # The pose-invariant jaw is noisier than the 2D jawOpen on nodding speakers (docs/features.md):
    # all but one clip clearly positive, and the typical clip as good as jawOpen.
    rs = sorted(v["jaw_r"] for v in report.values())
    assert sum(r > 0.2 for r in rs) >= len(rs) - 1 and np.median(rs) > 0.25, report


def _jaw_follows_loudness(workdir, accepted):
    """Lip-sync sanity: each accepted clip's jawOpen correlates with its loudness envelope within ±3 frames."""
    report = {}
    for clip in sorted(accepted):
        tensors, _ = read_features(workdir / "data/dataset/clips" / f"{clip}.safetensors",
                                   keys=["blendshapes/coefficients"])
        jaw = tensors["blendshapes/coefficients"][:, ARKIT_NAMES.index("jawOpen")]
        report[clip] = _best_r(jaw, _loudness(workdir, clip, len(jaw)))
    print("jawOpen vs loudness (r, lag):", report)
    assert all(r > 0.25 for r, _ in report.values()), report
