"""Portraits × recordings: which files are taken, and the speaking_* summary of the rows."""

from __future__ import annotations

import pytest

from talkhead.eval.portraits import AUDIO_SUFFIXES, IMAGE_SUFFIXES, files, summary_metrics


def test_files_takes_a_file_or_the_matching_files_of_a_folder(tmp_path):
    for name in ("b.PNG", "a.jpg", "notes.txt", "c.wav"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in files(tmp_path, IMAGE_SUFFIXES)] == ["a.jpg", "b.PNG"]
    assert files(tmp_path / "notes.txt", IMAGE_SUFFIXES) == [tmp_path / "notes.txt"]  # a named file is taken as is
    with pytest.raises(FileNotFoundError, match="no such file"):
        files(tmp_path / "missing", AUDIO_SUFFIXES)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.aac/"):
        files(tmp_path / "empty", AUDIO_SUFFIXES)


def _row(std, r, meets, rng=0.1):
    return {"portrait": "p", "speech": "s", "gap_std": std, "gap_range": rng, "r_loudness": r, "meets_target": meets}


def test_summary_counts_skips_and_takes_min_median_and_the_target_fraction():
    rows = [_row(0.03, 0.4, True), _row(0.01, 0.1, False, 0.05), _row(0.05, None, False, 0.2),
            {"portrait": "dog.jpg", "speech": "", "skipped": "no face"}]
    m = summary_metrics(rows)
    assert (m["speaking_videos"], m["speaking_skipped_portraits"]) == (3, 1)
    assert (m["speaking_gap_std_min"], m["speaking_gap_std_median"]) == (0.01, 0.03)
    assert (m["speaking_r_loudness_min"], m["speaking_r_loudness_median"]) == (0.1, 0.25)  # None left out
    assert m["speaking_gap_range_median"] == 0.1 and m["speaking_meets_target"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary_metrics(rows[3:]) == {"speaking_videos": 0, "speaking_skipped_portraits": 1}
