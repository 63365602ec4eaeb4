"""Data validation of the gate's measures table with Great Expectations 1.x → Data Docs HTML + a JSON summary.

Two suites run on two data assets of one in-memory pandas data source:

- `all_clips` (every row): clip ids present and unique, verdict in {accept, reject}, reasons only
  from the gate's vocabulary ('|'-joined), a rejected row gives at least one reason and an
  accepted row none.
- `accepted_clips` (the accepted rows, or every row with `accepted_only=False`): the contract of
  the accepted table: the columns exist, clip ids unique and file-name safe, and every row meets
  the thresholds (duration, face size, detection rate, blur, loudness, speech, A/V offset, faces).

The accepted rows are a filtered copy of the table (not a row condition), so the accepted suite
reports exactly the rows it judged. A threshold that is missing or None adds no expectation.
Running the suites and building reproducible Data Docs is talkhead.gx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from talkhead.atomic import write_json
from talkhead.data.manifest import CLIP_ID
from talkhead.data.status import REASONS
from talkhead.gx import run_suites

REASONS_REGEX = "^(?:(?:{0})(?:\\|(?:{0}))*)?$".format("|".join(REASONS))  # '' or codes joined by '|'
CLIP_REGEX = CLIP_ID.pattern  # the manifest rule: a letter or digit first, then [A-Za-z0-9_-]
VERDICTS = ("accept", "reject")
COLUMNS = ("clip", "verdict", "reasons", "duration_s", "frames", "face_px", "face_frac", "detection_rate",
           "faces_max", "blur", "has_audio", "loudness_db", "speech_fraction", "scene_cuts", "av_offset_frames",
           "av_confidence")
# threshold key → (column, upper end of the column's range or None); the threshold is the lower bound
MIN_THRESHOLDS: dict[str, tuple[str, float | None]] = {
    "min_duration_s": ("duration_s", None),
    "min_face_px": ("face_px", None),
    "min_face_frac": ("face_frac", None),
    "min_face_coverage": ("face_coverage", 1.0),
    "min_detection_rate": ("detection_rate", 1.0),
    "min_blur": ("blur", None),
    "min_loudness_db": ("loudness_db", None),
    "min_speech_fraction": ("speech_fraction", 1.0),
}
ALL_SUITE, ACCEPTED_SUITE = "all_clips", "accepted_clips"


def _all_rows_expectations() -> list[Any]:
    """Table-level checks on every row: ids, verdicts and the reasons that go with them."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    rejected, accepted = Column("verdict") == "reject", Column("verdict") == "accept"
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="clip"),
        gxe.ExpectColumnValuesToBeUnique(column="clip"),
        gxe.ExpectColumnValuesToNotBeNull(column="verdict"),
        gxe.ExpectColumnValuesToBeInSet(column="verdict", value_set=list(VERDICTS)),
        gxe.ExpectColumnValuesToMatchRegex(column="reasons", regex=REASONS_REGEX),
        gxe.ExpectColumnValuesToNotBeNull(column="reasons", row_condition=rejected),
        gxe.ExpectColumnValueLengthsToBeBetween(column="reasons", min_value=1, row_condition=rejected),
        gxe.ExpectColumnValuesToBeInSet(column="reasons", value_set=[""], row_condition=accepted),
    ]


def _threshold_expectations(thresholds: dict[str, float]) -> Iterator[Any]:
    """One not-null and one range expectation per threshold that is set (None or absent: no check)."""
    import great_expectations.expectations as gxe

    for key, (column, upper) in MIN_THRESHOLDS.items():
        if thresholds.get(key) is not None:
            yield gxe.ExpectColumnValuesToNotBeNull(column=column)
            yield gxe.ExpectColumnValuesToBeBetween(column=column, min_value=float(thresholds[key]), max_value=upper)
    if thresholds.get("max_abs_av_offset_frames") is not None:  # an unknown offset (NaN) is allowed
        limit = abs(float(thresholds["max_abs_av_offset_frames"]))
        yield gxe.ExpectColumnValuesToBeBetween(column="av_offset_frames", min_value=-limit, max_value=limit)
    if thresholds.get("max_faces") is not None:
        yield gxe.ExpectColumnValuesToNotBeNull(column="faces_max")
        yield gxe.ExpectColumnValuesToBeBetween(column="faces_max", max_value=float(thresholds["max_faces"]))


def _accepted_expectations(thresholds: dict[str, float], accepted_only: bool) -> list[Any]:
    """The contract of the accepted table: columns, ids, verdict, audio present, every threshold met."""
    import great_expectations.expectations as gxe

    verdicts = ["accept"] if accepted_only else list(VERDICTS)
    return [
        *(gxe.ExpectColumnToExist(column=c) for c in COLUMNS),
        gxe.ExpectColumnValuesToBeUnique(column="clip"),
        gxe.ExpectColumnValuesToMatchRegex(column="clip", regex=CLIP_REGEX),
        gxe.ExpectColumnValuesToBeInSet(column="verdict", value_set=verdicts),
        gxe.ExpectColumnValuesToNotBeNull(column="has_audio"),
        gxe.ExpectColumnValuesToBeInSet(column="has_audio", value_set=[True]),
        *_threshold_expectations(thresholds),
    ]


def _accepted_rows(table: pd.DataFrame, accepted_only: bool) -> pd.DataFrame:
    """The rows the accepted contract applies to (none without a verdict column)."""
    if not accepted_only:
        return table
    if "verdict" not in table.columns:
        return table.iloc[:0]
    return table[table["verdict"] == "accept"].reset_index(drop=True)


def validate_measures(table: pd.DataFrame, thresholds: dict[str, float], out_dir: str | Path,
                      accepted_only: bool = True) -> dict:
    """Validate the measures table, build Data Docs in `out_dir`, write and return the summary.

    The summary of talkhead.gx.run_suites plus `evaluated` (rows the accepted contract judged).
    """
    if table.empty and len(table.columns) == 0:  # no clips at all: the empty table of the contract
        table = pd.DataFrame(columns=list(COLUMNS))
    accepted = _accepted_rows(table, accepted_only)
    summary = run_suites({ALL_SUITE: (table, _all_rows_expectations()),
                          ACCEPTED_SUITE: (accepted, _accepted_expectations(thresholds, accepted_only))}, out_dir)
    summary["evaluated"] = len(accepted)
    write_json(Path(out_dir).resolve() / "validation.json", summary)
    return summary
