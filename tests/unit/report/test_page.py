"""The dataset report page on a synthetic run: funnel numbers, every reason with thumbnails, plots, models, size."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from talkhead.config import QualityConfig, ReportConfig
from talkhead.media.clip_video import ClipVideo
from talkhead.media.encode import VideoWriter
from talkhead.report.funnel import STAGES
from talkhead.report.page import write_report

REASONS = {"c03": "no_face", "c04": "blurry", "c05": "av_offset", "c06": "silent_audio|no_speech",
           "c07": "stage_error"}
SPEAKERS = {"c00": "ann", "c01": "ann", "c02": "bob", "c03": "bob", "c04": "ann", "c05": "cat", "c06": "cat",
            "c07": "cat", "c08": "dan"}


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)


def _clip_video(folder: Path, source: Path, shade: int) -> None:
    """A 1 s, 25 fps, 64 px clip of one flat shade whose middle frame is lighter (the thumbnail must be it)."""
    with VideoWriter(source, 25, (64, 48)) as writer:
        for k in range(25):
            writer.write_frame(np.full((48, 64, 3), shade + (80 if 10 <= k <= 15 else 0), np.uint8))
    ClipVideo(source=str(source), fps=25, start=0.0, end=1.0, frames=25, width=64, height=48).write(folder)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A data root as the pipeline leaves it: 9 clips, c08 never ingested, c07 failed in normalize."""
    root = tmp_path_factory.mktemp("run")
    data = root / "data"
    clips = list(SPEAKERS)
    _write_csv(root / "manifest.csv", [{"clip_id": c, "source": f"{c}.mp4", "start": 0, "end": 60, "speaker": s,
                                        "split": "train", "emotion": "neutral"} for c, s in SPEAKERS.items()],
               ["clip_id", "source", "start", "end", "speaker", "split", "emotion"])
    done = {"ingest": clips[:8], "normalize": clips[:7], "faces": clips[:7],
            "crop": [c for c in clips[:7] if c != "c03"]}
    for phase, ok in done.items():
        _write_csv(data / phase / "_shards" / "shard00000.csv",
                   [{"clip": c, "ok": int(c in ok), "reasons": ""} for c in clips[:8]], ["clip", "ok", "reasons"])
    for k, clip in enumerate(clips[:7]):
        _clip_video(data / "normalize" / clip, root / "media" / f"{clip}.mp4", 20 * k)
    rows = [{"clip": c, "speaker": SPEAKERS[c], "split": "train", "verdict": "reject" if c in REASONS else "accept",
             "reasons": REASONS.get(c, ""), "duration_s": 60.0, "face_px": 100 + k, "blur": 50.0 + k,
             "speech_fraction": 0.5, "loudness_db": -20.0, "av_offset_frames": 6 if c == "c05" else 0,
             "av_confidence": 3.5, "detection_rate": 0.0 if c == "c03" else 1.0}
            for k, c in enumerate(clips[:8])]
    _write_csv(data / "qc" / "measures.csv", rows, list(rows[0]))
    expectations = [{"suite": "all_clips", "expectation": "expect_column_values_to_be_unique", "column": "clip",
                     "success": True, "unexpected_count": 0, "examples": []},
                    {"suite": "accepted_clips", "expectation": "expect_column_values_to_be_between",
                     "column": "blur", "success": False, "unexpected_count": 1, "examples": ["c04"]}]
    (data / "qc" / "report").mkdir(parents=True)
    (data / "qc" / "report" / "validation.json").write_text(json.dumps(
        {"success": False, "failed": expectations[1:], "expectations": expectations,
         "suites": {"all_clips": {"success": True, "rows": 8, "expectations": 1}}}))
    (data / "eval").mkdir()
    (data / "eval" / "metrics.tsv").write_text(
        "source\tmetric\tvalue\neval/m\tmodel.val_l1\t0.1\neval/m\tbaseline.val_l1\t0.3\neval/m\tclips\t2\n")
    (data / "models" / "gaussians").mkdir(parents=True)
    (data / "models" / "gaussians" / "metrics.json").write_text(json.dumps(
        {"mean": {"psnr": 24.0, "psnr_init": 11.0}, "speaker_count": 1, "speakers": {"ann": {"psnr": 24.0,
                                                                                          "psnr_init": 11.0}}}))
    _write_csv(data / "models" / "m" / "metrics.csv", [{"epoch": e, "train_loss": 1 / e} for e in (1, 2, 3)],
               ["epoch", "train_loss"])
    return root


def _report(run: Path, out: Path, per_reason: int = 2) -> tuple[dict, str]:
    """write_report over the run, the training curve given as the workflow gives it."""
    from dataclasses import asdict

    cfg = ReportConfig(thumbnails_per_reason=per_reason, max_speakers=3, bins=10)
    quality = asdict(QualityConfig.from_dict({}))
    record = write_report(run / "data", run / "manifest.csv", out, cfg, quality, params=[],
                          curves=[run / "data/models/m/metrics.csv", run / "data/models/absent/metrics.csv"])
    return record, (out / "index.html").read_text(encoding="utf-8")


def test_funnel_counts_each_phase_and_the_gate(run, tmp_path):
    record, page = _report(run, tmp_path / "report")
    assert record["funnel"] == {**dict(zip(STAGES, [9, 8, 7, 7, 6, 8, 3])), "accepted_hours": pytest.approx(3 / 60),
                                "speech_hours": pytest.approx(1.5 / 60)}
    for stage, count in zip(STAGES, [9, 8, 7, 7, 6, 8, 3]):
        assert re.search(rf'data-stage="{stage}">{count}<', page), stage
    speakers = pd.read_csv(tmp_path / "report" / "speakers.csv")
    assert dict(zip(speakers["speaker"], speakers["accepted"])) == {"ann": 2, "bob": 1, "cat": 0, "dan": 0}
    assert "1 more speakers" in page and 'href="speakers.csv"' in page  # max_speakers 3 of 4


def test_every_reason_has_its_count_and_a_thumbnail_of_the_middle_frame(run, tmp_path):
    record, page = _report(run, tmp_path / "report")
    assert record["rejections"] == {"no_face": 1, "blurry": 1, "av_offset": 1, "silent_audio": 1, "no_speech": 1,
                                    "stage_error": 1}
    for reason in record["rejections"]:
        section = page.split(f'id="reason-{reason}"', 1)[1].split('<div class="reason"', 1)[0]
        assert "data:image/jpeg;base64," in section or reason == "stage_error", reason
    assert 'href="../quality/c05/quality.json"' in page and "av_offset_frames = 6" in page
    assert "no readable frame" in page.split('id="reason-stage_error"', 1)[1]  # c07 never normalized


def test_thumbnail_is_the_middle_frame(run):
    from talkhead.report.thumbs import clip_thumbnail

    frame = clip_thumbnail(run / "data" / "normalize" / "c01")
    assert frame is not None and frame.shape[2] == 3
    assert abs(float(frame.mean()) - (20 + 80)) < 6  # the lighter middle, not the first frame (shade 20)
    assert clip_thumbnail(run / "data" / "normalize" / "c08") is None  # no video.json


def test_plots_validation_and_models_are_on_the_page(run, tmp_path):
    record, page = _report(run, tmp_path / "report")
    assert page.count("<svg") >= 5 and record["plots"] >= 5  # 4 measures with values + the training curve
    assert page.index("expect_column_values_to_be_between") < page.index("expect_column_values_to_be_unique")
    table = page.split('<table class="metrics">', 1)[1].split("</table>", 1)[0]
    assert "<th>model</th><th>baseline</th>" in table and "0.1" in table and "0.3" in table  # side by side
    heads = page.split("models/gaussians (1 head)", 1)[1].split("</table>", 1)[0]
    assert "<th>mean</th><th>ann</th>" in heads and re.search(r"psnr_init</td><td>11</td>", heads)
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_size_is_bounded_by_the_samples_not_the_clips(run, tmp_path):
    _, small = _report(run, tmp_path / "one", per_reason=1)
    _, more = _report(run, tmp_path / "two", per_reason=3)
    assert small.count("data:image/jpeg") == 5 and more.count("data:image/jpeg") == 5  # one clip per reason here
    _, none = _report(run, tmp_path / "none", per_reason=0)
    assert none.count("data:image/jpeg") == 0 and 'id="reason-no_face"' in none


def test_a_data_folder_without_the_gate_is_a_clear_error(tmp_path):
    from talkhead.stages.report import main

    (tmp_path / "manifest.csv").write_text("clip_id,source,start,end,speaker,split,emotion\n")
    code = main(["--data", str(tmp_path / "data"), "--manifest", str(tmp_path / "manifest.csv"),
                 "--out", str(tmp_path / "report")])
    assert code == 2 and not (tmp_path / "report").exists()


def test_the_date_follows_source_date_epoch(monkeypatch):
    from talkhead.report.provenance import provenance

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert provenance([])["date"] == "2023-11-14 22:13 UTC"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert provenance([])["date"].startswith("20") and provenance([])["date"] != "2023-11-14 22:13 UTC"
