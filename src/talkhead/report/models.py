"""The models' part of the report: every metric next to its baselines, training curves, plots and samples.

Metrics come from data/eval/metrics.tsv (talkhead.stages.metrics_table: source, metric, value). A source
whose metrics are named `<variant>.<metric>` (V3 Face's evaluation: model, model_crisp, the ONNX graphs,
baseline_mean_pose, baseline_silence) becomes one table with a column per variant, so the model stands
next to its baselines; other sources list their metrics in name order, which keeps a metric and its
`_static`/`_silence`/`_ground_truth` baselines on adjacent rows. Training curves are drawn from the
per-epoch CSVs the workflow names (the DVC plots); the PNG plots the evaluations write are inlined as they are.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from talkhead.report.svg import lines

PLOT_GLOBS = ("eval/*/plots/*.png", "models/*/*.png")
SAMPLE_GLOBS = ("eval/*/samples/*.mp4",)


@dataclass
class MetricsTable:
    """One source's metrics: `columns` are the variants ('' for a plain list), rows (metric, values by column)."""

    source: str
    columns: list[str]
    rows: list[tuple[str, list[float | None]]] = field(default_factory=list)


def read_metrics(path: str | Path) -> list[MetricsTable]:
    """data/eval/metrics.tsv → the tables of each source, in file order (see _tables)."""
    by_source: dict[str, list[tuple[str, float]]] = {}
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            by_source.setdefault(row["source"], []).append((row["metric"], float(row["value"])))
    return [table for source, items in by_source.items() for table in _tables(source, items)]


def _tables(source: str, items: list[tuple[str, float]]) -> list[MetricsTable]:
    """A grid of the `<variant>.<metric>` names (when at least two variants share metrics) and a list of the rest."""
    dotted = [(name.split(".", 1), value) for name, value in items if "." in name]
    variants = list(dict.fromkeys(v for (v, _), _ in dotted))
    metrics = list(dict.fromkeys(m for (_, m), _ in dotted))
    if len(variants) < 2 or len(metrics) * len(variants) > 2 * len(dotted):  # too sparse to be a variant grid
        return [MetricsTable(source, [""], [(name, [value]) for name, value in sorted(items)])]
    grid = {(v, m): value for (v, m), value in dotted}
    tables = [MetricsTable(source, variants, [(m, [grid.get((v, m)) for v in variants]) for m in metrics])]
    rest = [(name, [value]) for name, value in sorted(items) if "." not in name]
    return tables + ([MetricsTable(source, [""], rest)] if rest else [])


GAUSSIANS_SUMMARY = "models/gaussians/metrics.json"
MAX_HEADS = 8  # speakers shown beside the mean in the Gaussian heads' table


def gaussian_heads(data: str | Path) -> MetricsTable | None:
    """The per-identity Gaussian heads' summary (mean over speakers and the first MAX_HEADS speakers) as a table
    (rows: every numeric metric, e.g. psnr beside psnr_init), or None when none was trained."""
    path = Path(data) / GAUSSIANS_SUMMARY
    if not path.is_file():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    columns = {"mean": summary.get("mean", {})}
    columns.update(dict(list(summary.get("speakers", {}).items())[:MAX_HEADS]))

    def numeric(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    metrics = sorted({k for values in columns.values() for k, v in values.items() if numeric(v)})
    rows = [(m, [float(values[m]) if numeric(values.get(m)) else None for values in columns.values()])
            for m in metrics]
    heads = int(summary.get("speaker_count", len(columns) - 1))
    return MetricsTable(f"models/gaussians ({heads} head{'' if heads == 1 else 's'})", list(columns), rows)


def training_curves(files: Sequence[str | Path], data: str | Path) -> dict[str, str]:
    """Per-epoch (or per-step) CSV → SVG line chart of its numeric, non-constant columns against its first column
    (epoch, step), keyed by its path relative to `data`. The files are the trainings' curves the workflow
    names (rule report); an absent or one-row file is left out."""
    curves = {}
    for path in map(Path, files):
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if len(rows) < 2:
            continue
        x = next(iter(rows[0]))
        series = {}
        for column in rows[0]:
            values = np.array([_number(r.get(column)) for r in rows])
            if column != x and np.isfinite(values).any() and np.nanmax(values) > np.nanmin(values):
                series[column] = values
        name = str(path.relative_to(data)) if path.is_relative_to(data) else str(path)
        svg = lines([_number(r[x]) for r in rows], series, name.removesuffix(".csv"), x)
        if svg:
            curves[name] = svg
    return curves


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def files_matching(data: str | Path, patterns: tuple[str, ...]) -> list[Path]:
    """Files under the data root matching any of the glob patterns, sorted."""
    return sorted({p for pattern in patterns for p in Path(data).glob(pattern) if p.is_file()})
