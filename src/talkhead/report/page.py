"""The dataset report, data/report/index.html: one offline page over a pipeline run.

What came in and what came through (the funnel per split and speaker, hours of accepted speech), what
was rejected and why (every reason with sampled thumbnails and the measures that decided it), the
distributions of the gate's measures against its thresholds, the validation of the gate's table and
of the packed features (every expectation, failures first; alignment per modality), the models'
metrics beside their baselines with their training curves, plots and samples, and the run's
provenance. Everything is inline (CSS, SVG plots, JPEG/PNG data URIs) or a relative link to a file
of the same data folder (Data Docs, measures, sample videos): no request leaves the machine, and the
page needs no JavaScript.

Its size is bounded, not proportional to the clips: fixed-bin histograms, `thumbnails_per_reason`
thumbnails per reason, and the `max_speakers` largest speakers (the full per-speaker funnel is
written beside the page, speakers.csv).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from talkhead.config import ConfigError, ReportConfig
from talkhead.report import funnel as funnel_mod
from talkhead.report.models import (PLOT_GLOBS, SAMPLE_GLOBS, files_matching, gaussian_heads, read_metrics,
                                    training_curves)
from talkhead.report.provenance import provenance
from talkhead.report.rejections import reason_samples
from talkhead.report.svg import histogram
from talkhead.report.thumbs import clip_thumbnail, jpeg_data_uri, png_data_uri

log = logging.getLogger(__name__)
TEMPLATE = "index.html.j2"
VALIDATION_SITES = {"Quality gate (data/qc/measures.csv)": "qc/report",
                    "Packed features (data/dataset/clips)": "dataset/report"}


# measures.csv column → (plot title, x label, {mark label: (quality params key, sign)}): the gate's thresholds
DISTRIBUTIONS = {
    "face_px": ("Face size", "face box side (px)", {"min": ("min_face_px", 1)}),
    "blur": ("Sharpness", "variance of the Laplacian (log10)", {"min": ("min_blur", 1)}),
    "speech_fraction": ("Speech fraction", "share of the clip with voice", {"min": ("min_speech_fraction", 1)}),
    "loudness_db": ("Loudness", "dBFS", {"silence": ("silence_db", 1)}),
    "av_offset_frames": ("A/V offset", "frames (+: audio late)", {"+tol": ("av_tolerance", 1),
                                                                  "-tol": ("av_tolerance", -1)}),
    "av_confidence": ("A/V confidence", "sync confidence", {"min": ("av_min_confidence", 1)}),
    "duration_s": ("Duration", "seconds", {"min": ("min_duration_s", 1)}),
}


def distributions(measures: pd.DataFrame, quality_cfg: dict[str, Any], bins: int) -> dict[str, str]:
    """measure → SVG histogram of accepted and rejected clips with the gate's thresholds marked."""
    plots = {}
    for column, (title, x_label, marks) in DISTRIBUTIONS.items():
        if column not in measures.columns:
            continue
        values = pd.to_numeric(measures[column], errors="coerce")
        where = {label: sign * float(quality_cfg[key]) for label, (key, sign) in marks.items()
                 if quality_cfg.get(key) is not None}
        if column == "blur":  # sharpness spans decades: histogram of log10, the threshold too
            values = values.where(values > 0).apply(math.log10)
            where = {k: math.log10(v) for k, v in where.items() if v > 0}
        accepted = measures["verdict"] == "accept"
        split = {"accepted": values[accepted].astype(float), "rejected": values[~accepted].astype(float)}
        plots[column] = histogram(split, title, x_label, bins, where)
    return plots


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def validations(data: Path) -> list[dict[str, Any]]:
    """Each Data Docs site's summary (validation.json) with its expectations failures first."""
    out = []
    for title, rel in VALIDATION_SITES.items():
        summary = _read_json(data / rel / "validation.json")
        if summary is None:
            continue
        expectations = sorted(summary.get("expectations", []), key=lambda e: (bool(e.get("success")),))
        out.append({"title": title, "link": f"../{rel}/index.html", "success": summary.get("success"),
                    "suites": summary.get("suites", {}), "failed": summary.get("failed", []),
                    "expectations": expectations, "modalities": summary.get("modalities", {})})
    return out


def collect(data: str | Path, manifest: str | Path, params: Sequence[str | Path], quality_cfg: dict[str, Any],
            splits: dict[str, str] | None, options: ReportConfig, curves: Sequence[str | Path] = ()) -> dict[str, Any]:
    """Everything the page shows, read from the data root (data/); the funnel tables as DataFrames."""
    from talkhead.data.manifest import read_manifest

    data = Path(data)
    if not (data / "qc" / "measures.csv").is_file():
        raise ConfigError(f"{data / 'qc' / 'measures.csv'} does not exist: the report needs a run through the gate "
                          "(snakemake qc), and --data must be that run's data folder")
    rows = read_manifest(manifest)
    measures = pd.read_csv(data / "qc" / "measures.csv", dtype={"clip": str, "reasons": str}, keep_default_na=True)
    measures["reasons"] = measures["reasons"].fillna("")
    stages = funnel_mod.clip_stages([r.clip_id for r in rows], data, measures)
    groups = {"split": splits or {r.clip_id: r.split for r in rows}, "speaker": {r.clip_id: r.speaker for r in rows}}
    table = funnel_mod.funnel_table(stages, groups, measures)
    samples = reason_samples(measures, options.thumbnails_per_reason)
    thumbnails: dict[str, str | None] = {}  # a clip rejected for two sampled reasons is decoded once
    for sample in samples:
        for clip in sample.clips:
            if clip["clip"] not in thumbnails:
                frame = clip_thumbnail(data / "normalize" / clip["clip"])
                thumbnails[clip["clip"]] = jpeg_data_uri(frame) if frame is not None else None
            clip["thumbnail"] = thumbnails[clip["clip"]]
            clip["link"] = f"../quality/{clip['clip']}/quality.json"
    metrics_file = data / "eval" / "metrics.tsv"
    return {
        "funnel": table,
        "rejections": samples,
        "distributions": distributions(measures, quality_cfg, options.bins),
        "validations": validations(data),
        "metrics": (read_metrics(metrics_file) if metrics_file.is_file() else []) + [
            t for t in [gaussian_heads(data)] if t is not None],
        "curves": training_curves(curves, data),
        "plots": {str(p.relative_to(data)): png_data_uri(p) for p in files_matching(data, PLOT_GLOBS)},
        "samples": [f"../{p.relative_to(data)}" for p in files_matching(data, SAMPLE_GLOBS)],
        "provenance": provenance(params),
    }


def render(report: dict[str, Any], options: ReportConfig) -> str:
    """The page's HTML from collect()'s record."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("talkhead.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["duration"] = duration
    table = report["funnel"]
    overall = table[table["group"] == "all"].iloc[0].to_dict()
    speakers = table[table["group"] == "speaker"].sort_values(["manifest", "value"], ascending=[False, True])
    context = {
        **report, "stages": funnel_mod.STAGES, "overall": overall,
        "splits": table[table["group"] == "split"].to_dict("records"),
        "speakers": speakers.head(options.max_speakers).to_dict("records"),
        "more_speakers": max(0, len(speakers) - options.max_speakers),
        "rejections": [asdict(s) for s in report["rejections"]],
        "metrics": [asdict(t) for t in report["metrics"]],
    }
    return env.get_template(TEMPLATE).render(**context)


def duration(hours: float) -> str:
    """Hours of video as a reader wants them: minutes under an hour ('10.6 min'), hours above ('12.40 h')."""
    return f"{hours * 60:.1f} min" if hours < 1 else f"{hours:.2f} h"


def _num(value: Any, digits: int = 4) -> str:
    """A number for a table cell: integers as they are, floats to `digits` significant digits, '—' for none."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e9):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def write_report(data: str | Path, manifest: str | Path, out: str | Path, cfg: ReportConfig,
                 quality_cfg: dict[str, Any], splits: dict[str, str] | None = None,
                 params: Sequence[str | Path] = (), curves: Sequence[str | Path] = ()) -> dict[str, Any]:
    """Write out/index.html, out/speakers.csv (every speaker's funnel) and out/report.json (the funnel and the
    rejection counts, for scripts); return report.json's record. The folder is replaced atomically."""
    from talkhead.atomic import atomic_dir, write_json, write_text

    report = collect(data, manifest, params, quality_cfg, splits, cfg, curves)
    table = report["funnel"]
    record = {"funnel": {k: (float(v) if isinstance(v, float) else int(v)) for k, v in
                         table[table["group"] == "all"].iloc[0].items() if k not in ("group", "value")},
              "rejections": {s.reason: s.count for s in report["rejections"]},
              "plots": len(report["distributions"]) + len(report["curves"]) + len(report["plots"]),
              "provenance": report["provenance"]}
    with atomic_dir(out) as tmp:
        write_text(Path(tmp) / "index.html", render(report, cfg))
        table[table["group"] == "speaker"].drop(columns="group").rename(columns={"value": "speaker"}).to_csv(
            Path(tmp) / "speakers.csv", index=False, float_format="%.4f")
        write_json(Path(tmp) / "report.json", record)
    return record
