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
The context is ephemeral (in-memory stores, analytics off, no progress bars): the only files
written are the Data Docs site and validation.json, both inside `out_dir`. Great Expectations is
imported inside `validate_measures` because its import takes seconds.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from talkhead.atomic import write_json, write_text
from talkhead.data.status import REASONS

REASONS_REGEX = "^(?:(?:{0})(?:\\|(?:{0}))*)?$".format("|".join(REASONS))  # '' or codes joined by '|'
CLIP_REGEX = r"^[A-Za-z0-9_-]+$"
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
SITE = "local_site"
MAX_UNEXPECTED = 20


def _context(out_dir: Path) -> Any:
    """An ephemeral GX context whose only file output is a Data Docs site in `out_dir`."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    site = {"class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                               data_docs_sites={SITE: site}, analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False))
    return gx.get_context(project_config=config, mode="ephemeral")


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


def _validation(context: Any, name: str, expectations: list[Any]) -> Any:
    """A validation definition: a suite of `expectations` on a whole-dataframe batch of asset `name`."""
    import great_expectations as gx

    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    source = context.data_sources.get("measures")
    batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(f"{name}_whole")
    return context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))


def _run_id(table: pd.DataFrame) -> Any:
    """A reproducible run identity: named by the table's digest, dated SOURCE_DATE_EPOCH (default: the epoch).

    Data Docs put the run time into file names and pages; the wall-clock time would make two runs on
    the same clips differ byte for byte (the time a run happened is in the Snakemake logs).
    """
    from great_expectations.core.run_identifier import RunIdentifier

    digest = hashlib.sha256(table.to_csv(index=False).encode("utf-8")).hexdigest()[:12]
    when = datetime.fromtimestamp(int(os.environ.get("SOURCE_DATE_EPOCH", "0")), tz=timezone.utc)
    return RunIdentifier(run_name=f"measures-{digest}", run_time=when)


def _run(validation: Any, frame: pd.DataFrame, run_id: Any) -> Any:
    """Validate `frame`; COMPLETE results carry the clip id of every unexpected row."""
    result_format: dict[str, Any] = {"result_format": "COMPLETE"}
    if "clip" in frame.columns:
        result_format["unexpected_index_column_names"] = ["clip"]
    return validation.run(batch_parameters={"dataframe": frame}, result_format=result_format, run_id=run_id)


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: numpy → Python, NaN/NA/NaT → None."""
    value = value.item() if hasattr(value, "item") else value
    return None if pd.api.types.is_scalar(value) and pd.isna(value) else value


def _unexpected(result: dict[str, Any]) -> list[Any]:
    """Clip ids of the failing rows when known, else the unexpected values (at most MAX_UNEXPECTED)."""
    rows = result.get("unexpected_index_list") or []
    if rows and all(isinstance(r, dict) and "clip" in r for r in rows):
        return [_plain(r["clip"]) for r in rows[:MAX_UNEXPECTED]]
    values = result.get("unexpected_list") or result.get("partial_unexpected_list") or []
    return [_plain(v) for v in values[:MAX_UNEXPECTED]]


def _failures(suite: str, suite_result: Any) -> list[dict[str, Any]]:
    """One entry per failed expectation of a suite result (an expectation that raised says why)."""
    failed = []
    for r in suite_result.results:
        if r.success:
            continue
        entry = {"suite": suite, "expectation": r.expectation_config.type,
                 "column": r.expectation_config.kwargs.get("column"), "unexpected": _unexpected(r.result or {})}
        errors = _errors(r.exception_info or {})
        if errors:
            entry["error"] = "; ".join(errors)
        failed.append(entry)
    return failed


def _errors(info: dict[str, Any]) -> list[str]:
    """Exception messages of a result's exception_info (flat, or one nested dict per metric)."""
    infos = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    return sorted({str(i.get("exception_message")) for i in infos if i.get("raised_exception")})


def _accepted_rows(table: pd.DataFrame, accepted_only: bool) -> pd.DataFrame:
    """The rows the accepted contract applies to (none without a verdict column)."""
    if not accepted_only:
        return table
    if "verdict" not in table.columns:
        return table.iloc[:0]
    return table[table["verdict"] == "accept"].reset_index(drop=True)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CACHE_BUSTER = re.compile(r"\?d=\d{8}T\d{6}\.\d+Z")
STAMP = re.compile(r"\b\d{8}T\d{6}\.\d+Z\b")


def _reproducible_pages(site: Path, run_id: Any) -> None:
    """Make the Data Docs HTML a function of the results only: drop the logo's time-stamp query, date
    the batch's load time like the run, and number the random element ids (uuid4) per page in order
    of appearance (links within a page stay consistent)."""
    when = run_id.run_time.strftime("%Y%m%dT%H%M%S.%fZ")
    for page in sorted(site.rglob("*.html")):
        text = STAMP.sub(when, CACHE_BUSTER.sub("", page.read_text(encoding="utf-8")))
        ids: dict[str, str] = {}
        text = UUID.sub(lambda m: ids.setdefault(m.group(0), f"00000000-0000-4000-8000-{len(ids):012d}"), text)
        write_text(page, text)


def validate_measures(table: pd.DataFrame, thresholds: dict[str, float], out_dir: str | Path,
                      accepted_only: bool = True) -> dict:
    """Validate the measures table, build Data Docs in `out_dir`, write and return the summary.

    Summary: success (both suites), evaluated (rows the accepted contract judged), failed (one entry
    per failed expectation: suite, expectation type, column, up to 20 clip ids or values), report
    (out_dir/index.html), suites (per suite: success, rows, expectations). Also out_dir/validation.json.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if table.empty and len(table.columns) == 0:  # no clips at all: the empty table of the contract
        table = pd.DataFrame(columns=list(COLUMNS))
    accepted = _accepted_rows(table, accepted_only)
    context = _context(out_dir)
    context.data_sources.add_pandas("measures")
    runs = {ALL_SUITE: (_validation(context, ALL_SUITE, _all_rows_expectations()), table),
            ACCEPTED_SUITE: (_validation(context, ACCEPTED_SUITE, _accepted_expectations(thresholds, accepted_only)),
                             accepted)}
    run_id = _run_id(table)
    results = {name: _run(validation, frame, run_id) for name, (validation, frame) in runs.items()}
    context.build_data_docs(site_names=[SITE])
    _reproducible_pages(out_dir, run_id)
    summary = {
        "success": all(bool(r.success) for r in results.values()),
        "evaluated": len(accepted),
        "failed": [f for name, r in results.items() for f in _failures(name, r)],
        "report": str(out_dir / "index.html"),
        "suites": {name: {"success": bool(r.success), "rows": len(runs[name][1]),
                          "expectations": r.statistics["evaluated_expectations"]} for name, r in results.items()},
    }
    write_json(out_dir / "validation.json", summary)
    return summary
