"""`talkhead qc` on every real fixture video gives the verdict of expected.csv with an allowed reason."""

from __future__ import annotations

import csv
import json
import subprocess

import imageio_ffmpeg
import pandas as pd
import pytest

from talkhead.config import load_params
from talkhead.stages.qc_files import run_qc

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
        stem = row["file"].rsplit("/", 1)[-1]
        got = json.loads((out / f"{stem}.json").read_text())
        allowed = set(filter(None, row["reasons_allowed"].split("|")))
        if row["verdict"] != "either" and got["verdict"] != row["verdict"]:
            wrong.append((stem, got["verdict"], got["reasons"]))
        if got["verdict"] == "reject" and not set(got["reasons"]) <= allowed:
            wrong.append((stem, "reasons", got["reasons"], allowed))
    assert not wrong, wrong


def test_audio_lag_is_never_corrected_wrongly(reports):
    """The 400 ms lag copy is either measured within a frame of +10 (relative to its original) and shifted, or
    uncertain and left alone."""
    _, out = reports
    got = json.loads((out / f"{LAG_CLIP}.mp4.json").read_text())
    in_sync = json.loads((out / "video-retalking__face_2.mp4.json").read_text())
    for report in (got, in_sync):
        m = report["measures"]
        assert m["av_status"] in ("measured", "uncertain") and m["av_reason"] is not None, m
        if m["av_status"] == "uncertain":
            assert report["av_shift_frames"] == 0
    assert in_sync["av_shift_frames"] == 0
    if got["av_shift_frames"]:
        assert abs(got["av_shift_frames"] - 10) <= 1, got


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
    original = json.loads((reports[1] / "video-retalking__face_2.mp4.json").read_text())
    assert got["verdict"] == "accept", got
    assert abs(got["face_px"] - original["face_px"]) < 0.05 * original["face_px"]
    assert got["av_shift_frames"] == original["av_shift_frames"] == 0
    assert got["measures"]["av_status"] == original["measures"]["av_status"]


def test_active_speaker_is_kept_even_when_smaller(real_media, tmp_path):
    """Two talking faces, the audio is the left one's; shrink it so that 'largest' would pick the other."""
    two = real_media / "videos/DERIVED__video-retalking__face_2+face_4__two_faces.mp4"
    clip = tmp_path / "small_speaker.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(two),
                    "-filter_complex", "[0:v]crop=360:360:0:0,scale=280:280,pad=360:360:40:40[a];"
                    "[0:v]crop=360:360:360:0[b];[a][b]hstack", "-c:v", "libx264", "-crf", "18", "-c:a", "copy",
                    str(clip)], check=True)
    results = {}
    for policy in ("active", "largest"):
        params = load_params(None)
        params["crop"]["size"] = 256
        params["quality"]["multiple_faces"] = "keep_track"
        params["faces"]["speaker"] = policy
        out = tmp_path / policy
        run_qc([clip], out, params, keep=True)
        track = pd.read_parquet(next((out / ".work" / "faces").glob("*/track.parquet")))
        results[policy] = (float(((track.x0 + track.x1) / 2).median()),
                           json.loads((out / "small_speaker.mp4.json").read_text()))
    centre, report = results["active"]
    assert centre < 360 and report["verdict"] == "accept", "the speaker is the left face"
    m = report["measures"]  # in sync: never shifted by more than a frame, whether measured or uncertain
    assert abs(report["av_shift_frames"]) <= 1 and (m["av_status"] == "uncertain" or abs(m["av_offset_frames"]) <= 2)
    assert results["largest"][0] > 360, "the largest face is the listener on the right"
