"""The feature validation flags each injected defect: NaN, a misaligned modality, a wrong rate, a truncated file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from talkhead.data.featurefile import read_features, write_features
from talkhead.data.validate import feature_table, validate_features


def _rewrite(path, change):
    """Rewrite a packed file with `change(tensors, meta)` applied (the injection)."""
    tensors, meta = read_features(path)
    change(tensors, meta)
    write_features(path, tensors, meta)


def _nan(tensors, meta):
    tensors["face_mesh/points"][3, 10, 0] = np.nan


def _misaligned(tensors, meta):
    tensors["audio_mel/mel"] = tensors["audio_mel/mel"][:-5]


def _wrong_rate(tensors, meta):
    mods = json.loads(meta["modalities"])
    mods["audio_mel"]["rate_hz"] = "50"
    meta["modalities"] = json.dumps(mods)


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("defect, column", [(_nan, "nan"), (_misaligned, "aligned"), (_wrong_rate, "rate_ok"),
                                            ("truncated", "readable")])
def test_each_defect_is_flagged(tmp_path, make_packed, defect, column):
    good, bad = make_packed(tmp_path, "good"), make_packed(tmp_path, "bad", speaker="s2")
    clean = validate_features([good, bad], tmp_path / "clean_report")
    assert clean["success"], clean["failed"]
    if defect == "truncated":
        _truncated(bad)
    else:
        _rewrite(bad, defect)
    table = feature_table([good, bad])
    assert (table["clip"] == "good").any()
    summary = validate_features([good, bad], tmp_path / "report")
    assert not summary["success"]
    failing = {f["column"] for f in summary["failed"]}
    assert column in failing, summary["failed"]
    assert all("good" not in f["unexpected"] for f in summary["failed"]), "only the bad clip is blamed"
    assert (tmp_path / "report" / "index.html").is_file()


def test_summary_lists_every_expectation_and_the_checks_per_modality(tmp_path, make_packed):
    """What the dataset report shows: every expectation with its outcome, and per modality how many tensors pass."""
    good, bad = make_packed(tmp_path, "good"), make_packed(tmp_path, "bad", speaker="s2")
    _rewrite(bad, _misaligned)
    summary = validate_features([good, bad], tmp_path / "report")
    outcomes = summary["expectations"]
    assert len(outcomes) == summary["suites"]["features"]["expectations"]
    failed = [o for o in outcomes if not o["success"]]
    assert [o["column"] for o in failed] == ["aligned"] and failed[0]["unexpected_count"] == 1
    assert failed[0]["examples"] == ["bad"]
    mel = summary["modalities"]["audio_mel"]
    assert mel == {"tensors": 2, "aligned": 1, "rate_ok": 2, "finite": 2, "in_range": 2}
    assert all(m["aligned"] == m["tensors"] for name, m in summary["modalities"].items() if name != "audio_mel")
    _truncated(bad)
    unreadable = validate_features([good, bad], tmp_path / "report2")["modalities"]["(unreadable file)"]
    assert unreadable == {"tensors": 1, "aligned": 0, "rate_ok": 0, "finite": 0, "in_range": 0}
