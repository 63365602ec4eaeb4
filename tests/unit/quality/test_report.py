"""Great Expectations report of the gate: a good table passes, threshold and vocabulary breaches fail by clip."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from talkhead.quality.report import validate_measures

THRESHOLDS = {"min_duration_s": 2.0, "min_face_px": 96, "min_detection_rate": 0.9, "min_blur": 30.0,
              "min_loudness_db": -60.0, "min_speech_fraction": 0.2, "max_abs_av_offset_frames": 3, "max_faces": 1}
NAN = math.nan


def _row(clip: str, verdict: str = "accept", reasons: str = "", **measures: Any) -> dict[str, Any]:
    """One clip's measures, by default a clip that meets every threshold."""
    row = {"clip": clip, "verdict": verdict, "reasons": reasons, "duration_s": 4.0, "frames": 100, "face_px": 150.0,
           "face_frac": 0.5, "detection_rate": 1.0, "faces_max": 1, "blur": 50.0, "has_audio": True,
           "loudness_db": -20.0, "speech_fraction": 0.8, "scene_cuts": 0, "av_offset_frames": 0.0,
           "av_confidence": 5.0}
    return {**row, **measures}


def _good() -> pd.DataFrame:
    """3 accepted clips (one with an unknown A/V offset) and 2 rejected ones with their reasons."""
    return pd.DataFrame([
        _row("spk1_clip-01"), _row("spk1_clip-02", av_offset_frames=-2.0), _row("spk2_clip-01", av_offset_frames=NAN),
        _row("spk2_clip-02", "reject", "no_face|too_short", face_px=NAN, blur=NAN, detection_rate=0.0, faces_max=0,
             duration_s=1.0),
        _row("spk3_clip-01", "reject", "no_audio", has_audio=False, loudness_db=NAN, speech_fraction=NAN),
    ])


def _failed(summary: dict, expectation: str, column: str) -> list[dict]:
    return [f for f in summary["failed"] if f["expectation"] == expectation and f["column"] == column]


def _no_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError(f"network use attempted: {args}")


def test_good_table_passes_and_writes_docs_only_into_out_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "report"

    summary = validate_measures(_good(), THRESHOLDS, out)

    assert summary["success"], summary["failed"]
    assert summary["evaluated"] == 3 and summary["failed"] == []
    assert summary["report"] == str(out.resolve() / "index.html")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "accepted_clips" in index and "all_clips" in index
    assert json.loads((out / "validation.json").read_text(encoding="utf-8")) == summary
    assert list(cwd.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "report"]


def test_accepted_row_below_threshold_fails_naming_column_and_clip(tmp_path: Path) -> None:
    table = _good()
    table.loc[1, "face_px"] = 64.0
    table.loc[2, "blur"] = NAN  # an accepted clip must have every measure

    summary = validate_measures(table, THRESHOLDS, tmp_path / "report")

    assert not summary["success"]
    assert [f["unexpected"] for f in _failed(summary, "expect_column_values_to_be_between", "face_px")] == [
        ["spk1_clip-02"]]
    assert [f["unexpected"] for f in _failed(summary, "expect_column_values_to_not_be_null", "blur")] == [
        ["spk2_clip-01"]]
    assert {f["column"] for f in summary["failed"]} == {"face_px", "blur"}
    assert not json.loads((tmp_path / "report" / "validation.json").read_text(encoding="utf-8"))["success"]


def test_bad_reason_code_and_rejection_without_reason_fail(tmp_path: Path) -> None:
    table = _good()
    table.loc[3, "reasons"] = "no_face|too_dark"
    table.loc[4, "reasons"] = ""

    summary = validate_measures(table, THRESHOLDS, tmp_path / "report")

    assert not summary["success"]
    assert _failed(summary, "expect_column_values_to_match_regex", "reasons")[0]["unexpected"] == ["spk2_clip-02"]
    assert _failed(summary, "expect_column_value_lengths_to_be_between", "reasons")[0]["unexpected"] == [
        "spk3_clip-01"]
    assert all(f["suite"] == "all_clips" for f in summary["failed"])


@pytest.mark.parametrize("table", [_good().iloc[:0], pd.DataFrame(), _good().iloc[3:]],
                         ids=["no_rows", "no_columns", "all_rejected"])
def test_empty_and_all_rejected_tables(tmp_path: Path, table: pd.DataFrame) -> None:
    summary = validate_measures(table, THRESHOLDS, tmp_path / "report")

    assert summary["success"], summary["failed"]
    assert summary["evaluated"] == 0
    assert (tmp_path / "report" / "index.html").is_file()


def test_import_does_not_load_great_expectations() -> None:
    code = "import talkhead.quality.report, sys; print('great_expectations' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
