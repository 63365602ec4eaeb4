"""Shared evaluation plumbing: val L1, which metrics a config makes available, DVC metrics files, plots.

Metric names carry the network that produced them (design §4): `fid_inception`, `fvd_i3d`,
`sync_c_syncnet` / `sync_d_syncnet`, `sync_c_selftrained` / `sync_d_selftrained`, `lmd_mediapipe`,
`val_l1[_<group>]`. A metric whose network is not configured is absent from metrics.json (and
listed under `absent` with the reason), never filled with a number from a stand-in network.
Metrics files are DVC-friendly: numbers (or strings) flat or nested one level, sorted keys,
written atomically with a trailing newline, so the same values give the same bytes.

Every metric computed through a network records which file it was: `<metric>_sha256` (or
`<scorer>_sha256` for the Sync-C / Sync-D / offset triple), the full sha256 of the weights file as
`sha256sum` prints it (`network_sha256`), so a number can be checked against a published checksum.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from talkhead.atomic import atomic_path, write_json, write_text

log = logging.getLogger(__name__)

# metric names -> the config key that must name an existing file/folder for them to be computed
NEEDS = {
    "fid_inception": "inception_path",
    "fvd_i3d": "i3d_path", "fvd_i3d_latentsync": "i3d_path",
    "sync_c_syncnet": "syncnet_path", "sync_d_syncnet": "syncnet_path", "av_offset_syncnet": "syncnet_path",
    "sync_c_selftrained": "selftrained_syncnet", "sync_d_selftrained": "selftrained_syncnet",
    "av_offset_selftrained": "selftrained_syncnet",
}
ALWAYS = ("lmd_mediapipe", "val_l1")  # need no external network (MediaPipe's mesh ships in its wheel)


def network_sha256(path: str | Path) -> str:
    """Full hex sha256 of a network's weights file (as `sha256sum` prints it)."""
    h = hashlib.sha256()
    with open(Path(path).expanduser(), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def absent_metrics(cfg: Mapping[str, Any]) -> dict[str, str]:
    """{metric: why it is not computed} for every network-backed metric whose network is not configured."""
    out = {}
    for name, key in NEEDS.items():
        value = cfg.get(key) or ""
        if not value:
            out[name] = f"{key} is not set"
        elif not Path(value).expanduser().exists():
            out[name] = f"{key} {value} does not exist"
    return out


def available_metrics(cfg: Mapping[str, Any]) -> list[str]:
    """Sorted names of the metrics `cfg` (inception_path, i3d_path, syncnet_path, selftrained_syncnet) allows."""
    absent = absent_metrics(cfg)
    return sorted([*ALWAYS, *(name for name in NEEDS if name not in absent)])


def val_l1(pred: np.ndarray, target: np.ndarray, groups: Mapping[str, Sequence[int]] | None = None) -> dict[str, float]:
    """{'val_l1': mean |pred − target| over all of (..., C)} plus 'val_l1_<group>' over each group's channels."""
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and target {t.shape} differ in shape")
    err = np.abs(p - t)  # (..., C)
    out = {"val_l1": float(err.mean())}
    for name, index in (groups or {}).items():
        index = list(index)
        if not index:
            raise ValueError(f"channel group {name!r} is empty")
        out[f"val_l1_{name}"] = float(err[..., index].mean())
    return out


def _check(value: Any, key: str) -> Any:
    """A metrics value: finite number, bool, string or None; numpy scalars become Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"metric {key} is {value}: record it as absent instead")
    if value is not None and not isinstance(value, (int, float, str, bool)):
        raise ValueError(f"metric {key} has type {type(value).__name__}: only numbers and strings")
    return value


def write_metrics(path: str | Path, metrics: Mapping[str, Any]) -> None:
    """metrics.json for DVC: flat or one-level nested numbers/strings, sorted keys, atomic, deterministic."""
    clean: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            clean[str(key)] = {str(k): _check(v, f"{key}.{k}") for k, v in value.items()}
        else:
            clean[str(key)] = _check(value, str(key))
    write_json(path, clean)


def metrics_rows(files: Mapping[str, str | Path]) -> list[tuple[str, str, float]]:
    """(source, metric, value) for every number of each metrics.json in `files` (source name → path).

    Nested keys are joined with '.'; strings (notes, the reasons a metric is absent), booleans and
    None are left out: this is the table a report shows, metrics.json stays the record."""
    def numbers(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
        for key, value in node.items():
            if isinstance(value, Mapping):
                yield from numbers(value, f"{prefix}{key}.")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                yield f"{prefix}{key}", float(value)

    rows = []
    for source, path in files.items():
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        rows += [(source, name, value) for name, value in sorted(numbers(data))]
    return rows


def write_metrics_table(path: str | Path, files: Mapping[str, str | Path]) -> int:
    """metrics_rows as a TSV (source, metric, value; atomic); returns the number of rows."""
    rows = metrics_rows(files)
    text = "source\tmetric\tvalue\n" + "".join(f"{s}\t{m}\t{v:.6g}\n" for s, m, v in rows)
    write_text(path, text)
    return len(rows)


def plot_tracks(path: str | Path, pred: np.ndarray, target: np.ndarray, names: Sequence[str],
                fps: float = 25.0, title: str = "") -> None:
    """PNG of predicted vs ground-truth tracks (T, C): one panel per channel name, time in seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, t = np.asarray(pred), np.asarray(target)
    if p.shape != t.shape or p.ndim != 2 or p.shape[1] != len(names):
        raise ValueError(f"expected (T, {len(names)}) tracks, got {p.shape} and {t.shape}")
    time = np.arange(len(p)) / fps
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.8 * len(names) + 0.6), sharex=True, squeeze=False)
    for ax, c, name in zip(axes[:, 0], range(len(names)), names):
        ax.plot(time, t[:, c], color="0.3", lw=1.2, label="ground truth")
        ax.plot(time, p[:, c], color="tab:red", lw=1.0, label="predicted")
        ax.set_ylabel(name)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)


def plot_curve(path: str | Path, values: Sequence[float], xlabel: str, ylabel: str) -> None:
    """PNG of one curve (e.g. a training loss over steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(np.arange(len(values)), values, lw=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)


@dataclasses.dataclass
class Means:
    """Weighted running means by metric name (weight 1 per clip for a plain mean, frames for frame-weighted)."""

    sums: dict[str, float] = dataclasses.field(default_factory=dict)
    weights: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, name: str, value: float, weight: float = 1.0) -> None:
        """Accumulate one finite value; NaN is skipped."""
        if np.isfinite(value):
            self.sums[name] = self.sums.get(name, 0.0) + float(value) * weight
            self.weights[name] = self.weights.get(name, 0.0) + weight

    def result(self) -> dict[str, float]:
        """{name: weighted mean, rounded to 6 decimals}."""
        return {k: round(self.sums[k] / self.weights[k], 6) for k in sorted(self.sums)}
