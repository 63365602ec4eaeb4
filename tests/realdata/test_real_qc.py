"""`talkhead qc` on every real fixture video gives the verdict of expected.csv with an allowed reason."""

from __future__ import annotations

import csv
import json
import subprocess

import imageio_ffmpeg
import pytest

from talkhead.config import load_params
from talkhead.quality.run import run_qc

pytestmark = pytest.mark.realdata
LAG_CLIP = "DERIVED__video-retalking__face_2__audio_lag_400ms"


@pytest.fixture(scope="module")
def reports(real_media, tmp_path_factory):
    rows = list(csv.DictReader((real_media / "expected.csv").open()))
    out = tmp_path_factory.mktemp("qc")
    params = load_params(None)
    params["crop"]["size"] = 256  # the gate's measures do not depend on the crop size; this is faster
    run_qc([real_media / r["file"] for r in rows], out, params)
    return rows, out


def test_verdicts_match_expected(reports):
    rows, out = reports
    wrong = []
    for row in rows:
        stem = row["file"].rsplit("/", 1)[-1][:-4]
        got = json.loads((out / f"{stem}.json").read_text())
        allowed = set(filter(None, row["reasons_allowed"].split("|")))
        if row["verdict"] != "either" and got["verdict"] != row["verdict"]:
            wrong.append((stem, got["verdict"], got["reasons"]))
        if got["verdict"] == "reject" and not set(got["reasons"]) <= allowed:
            wrong.append((stem, "reasons", got["reasons"], allowed))
    assert not wrong, wrong


def test_audio_lag_is_measured_and_corrected(reports):
    _, out = reports
    got = json.loads((out / f"{LAG_CLIP}.json").read_text())
    assert abs(got["av_offset_frames"] - 10) <= 1, got  # + = audio late, in 25 fps frames
    in_sync = json.loads((out / "video-retalking__face_2.json").read_text())
    assert abs(in_sync["av_offset_frames"]) <= 1
    assert got["av_offset_frames"] - in_sync["av_offset_frames"] == 10
    if got["verdict"] == "accept":
        assert got["av_shift_frames"] == got["av_offset_frames"]


def test_phone_style_rotation_is_undone(real_media, tmp_path, reports):
    """Pixels stored sideways plus a display-rotation matrix (how phones record) must measure like the original."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    src = real_media / "videos/video-retalking__face_2.mp4"
    sideways, rotated = tmp_path / "sideways.mp4", tmp_path / "phone_rotated.mp4"
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(src), "-vf", "transpose=1", "-c:v", "libx264",
                    "-crf", "16", "-c:a", "copy", str(sideways)], check=True)
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-display_rotation", "90", "-i", str(sideways), "-c",
                    "copy", str(rotated)], check=True)
    params = load_params(None)
    params["crop"]["size"] = 256
    got = run_qc([rotated], tmp_path / "out", params)[0]
    original = json.loads((reports[1] / "video-retalking__face_2.json").read_text())
    assert got["verdict"] == "accept", got
    assert abs(got["face_px"] - original["face_px"]) < 0.05 * original["face_px"]
    assert abs(got["av_offset_frames"] - original["av_offset_frames"]) <= 1
