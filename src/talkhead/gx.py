"""Great Expectations 1.x plumbing shared by the QC and the feature validations: suites → Data Docs + summary.

`run_suites` validates named pandas tables, each with its own expectation list, in one ephemeral
context (in-memory stores, analytics off, no progress bars); the only files written are the Data
Docs site and validation.json, both in `out_dir`. The pages are reproducible: the run is named by
a digest of the tables and dated SOURCE_DATE_EPOCH (default the epoch), the logo's time-stamp
query is dropped and random element ids are numbered per page. Great Expectations is imported
inside the functions because its import takes seconds.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from talkhead.atomic import write_json, write_text
from talkhead.report.offline import make_offline

SITE = "local_site"
MAX_UNEXPECTED = 20
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CACHE_BUSTER = re.compile(r"\?d=\d{8}T\d{6}\.\d+Z")
STAMP = re.compile(r"\b\d{8}T\d{6}\.\d+Z\b")


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


def _validation(context: Any, name: str, expectations: list[Any]) -> Any:
    """A validation definition: a suite of `expectations` on a whole-dataframe batch of asset `name`."""
    import great_expectations as gx

    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    source = context.data_sources.get("tables")
    batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(f"{name}_whole")
    return context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))


def _run_id(tables: list[pd.DataFrame]) -> Any:
    """A reproducible run identity: named by the tables' digest, dated SOURCE_DATE_EPOCH (default: the epoch).

    Data Docs put the run time into file names and pages; the wall-clock time would make two runs on
    the same clips differ byte for byte (the time a run happened is in the Snakemake logs).
    """
    from great_expectations.core.run_identifier import RunIdentifier

    digest = hashlib.sha256("".join(t.to_csv(index=False) for t in tables).encode("utf-8")).hexdigest()[:12]
    when = datetime.fromtimestamp(int(os.environ.get("SOURCE_DATE_EPOCH", "0")), tz=timezone.utc)
    return RunIdentifier(run_name=f"run-{digest}", run_time=when)


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


def _outcomes(suite: str, suite_result: Any) -> list[dict[str, Any]]:
    """Every expectation of a suite result: suite, expectation, column, success, unexpected_count, up to 5 examples."""
    rows = []
    for r in suite_result.results:
        result = r.result or {}
        count = result.get("unexpected_count")
        rows.append({"suite": suite, "expectation": r.expectation_config.type,
                     "column": r.expectation_config.kwargs.get("column"), "success": bool(r.success),
                     "unexpected_count": _plain(count) if count is not None else None,
                     "examples": [] if r.success else _unexpected(result)[:5]})
    return rows


def _errors(info: dict[str, Any]) -> list[str]:
    """Exception messages of a result's exception_info (flat, or one nested dict per metric)."""
    infos = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    return sorted({str(i.get("exception_message")) for i in infos if i.get("raised_exception")})


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


def run_suites(suites: dict[str, tuple[pd.DataFrame, list[Any]]], out_dir: str | Path) -> dict[str, Any]:
    """Validate each named (table, expectations), build Data Docs in `out_dir`; write and return the summary.

    Summary: success (every suite), failed (one entry per failed expectation: suite, expectation
    type, column, up to 20 clip ids or values, error), expectations (every one: suite, type, column,
    success, unexpected_count, up to 5 examples of a failure), report (out_dir/index.html), suites (per
    suite: success, rows, expectations). Also written to out_dir/validation.json.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    context = _context(out_dir)
    context.data_sources.add_pandas("tables")
    validations = {name: _validation(context, name, expectations) for name, (_, expectations) in suites.items()}
    run_id = _run_id([table for table, _ in suites.values()])
    results = {name: _run(validations[name], suites[name][0], run_id) for name in suites}
    context.build_data_docs(site_names=[SITE])
    _reproducible_pages(out_dir, run_id)
    make_offline(out_dir)  # local CSS/JS: the pages render on a machine with no internet
    summary = {
        "success": all(bool(r.success) for r in results.values()),
        "failed": [f for name, r in results.items() for f in _failures(name, r)],
        "expectations": [e for name, r in results.items() for e in _outcomes(name, r)],
        "report": str(out_dir / "index.html"),
        "suites": {name: {"success": bool(r.success), "rows": len(suites[name][0]),
                          "expectations": r.statistics["evaluated_expectations"]} for name, r in results.items()},
    }
    write_json(out_dir / "validation.json", summary)
    return summary
