"""`talkhead qc` on every real fixture video gives the verdict of expected.csv with an allowed reason."""

from __future__ import annotations

import csv
import json

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
