"""V3 Face on the held-out speakers: val L1 per channel group beside two baselines, the filters and the graph.

Every packed clip of the val split (the train split, recorded as such, when the dataset has none)
is predicted whole, in one offline pass, and compared frame by frame with its ground-truth
blendshapes (the tensor the model learned: `blendshapes/<train.target>`). Scores are mean absolute
errors over all frames of all clips, on the 31 lipsync and the 21 expression channels
(`talkhead.models.arkit_channels`) and on all 52:

  model               the trained model (data/models/v3face/expression)
  baseline_mean_pose  every frame = the mean blendshape vector over the training split's frames
  baseline_silence    the same model with the audio replaced by digital silence (log-mel of zeros):
                      what the model does without the speech it should follow
  model_crisp         the model followed by the offline crisp_mouth (the export's settings)
  onnx_fp32, onnx_int8   the exported graph streamed over each clip, its streaming crisp_mouth
                      inside; int8 is the dynamic quantization of the same graph, so the difference
                      of the two is the accuracy cost of quantizing (`int8_cost_val_l1`)

The silence baseline needs the audio front-end the model was trained on; for log-mel it is
computed here. For a HuBERT model it would need the HuBERT checkpoint, so it is left out (and
the metrics say so) rather than guessed.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from talkhead.atomic import atomic_dir, write_json
from talkhead.config import EvaluateConfig
from talkhead.data.featurefile import read_features
from talkhead.features import mel
from talkhead.models.arkit_channels import EXPRESSION_INDEX, LIPSYNC_INDEX
from talkhead.vocab import ARKIT_NAMES, AUDIO_KEYS

log = logging.getLogger(__name__)

GROUPS: dict[str, tuple[int, ...]] = {"lipsync": LIPSYNC_INDEX, "expression": EXPRESSION_INDEX,
                                      "all": tuple(range(len(ARKIT_NAMES)))}
SAMPLES_PER_FRAME = 16000 // 25


@dataclass
class L1Sum:
    """Running sums of absolute errors per channel group, over frames."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0.0))
    frames: int = 0

    def add(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Accumulate one clip: pred, target (T, 52)."""
        if pred.shape != target.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {target.shape} differ in shape")
        err = np.abs(np.asarray(pred, np.float64) - np.asarray(target, np.float64))  # (T, 52)
        for name, index in GROUPS.items():
            self.sums[name] += float(err[:, list(index)].mean(axis=1).sum())
        self.frames += len(err)

    def result(self) -> dict[str, float]:
        """{val_l1_<group>: mean over frames of the per-frame mean |error| of the group}."""
        return {f"val_l1_{name}": round(total / max(self.frames, 1), 6) for name, total in self.sums.items()}


@dataclass(frozen=True)
class EvalClip:
    """One held-out clip: its audio features (rows·T, D), ground truth (T, 52) and emotion label."""

    clip: str
    audio: np.ndarray
    target: np.ndarray
    emotion: str


def eval_split(metadata: Path) -> str:
    """'val' when the dataset has val clips, else 'train' (small datasets; recorded in the metrics)."""
    splits = set(pd.read_parquet(metadata, columns=["split"])["split"])
    return "val" if "val" in splits else "train"


def iter_clips(metadata: Path, split: str, audio_key: str, target_key: str) -> Iterator[EvalClip]:
    """The split's packed clips in clip order, one at a time (memory stays one clip)."""
    table = pd.read_parquet(metadata)
    for _, row in table[table["split"] == split].sort_values("clip").iterrows():
        tensors, _ = read_features(metadata.parent / row["file"], keys=[audio_key, target_key])
        yield EvalClip(str(row["clip"]), tensors[audio_key].astype(np.float32),
                       tensors[target_key].astype(np.float32), str(row["emotion"]))


def mean_pose(metadata: Path, target_key: str) -> np.ndarray:
    """(52,) the mean ground-truth blendshape vector over every frame of the training split."""
    total, n = np.zeros(len(ARKIT_NAMES)), 0
    table = pd.read_parquet(metadata)
    for file in table[table["split"] == "train"]["file"]:
        target = read_features(metadata.parent / file, keys=[target_key])[0][target_key]
        total += target.astype(np.float64).sum(axis=0)
        n += len(target)
    if n == 0:
        raise ValueError(f"{metadata}: no training frames for the mean-pose baseline")
    return (total / n).astype(np.float32)


def silent_audio(audio: str, frames: int) -> np.ndarray | None:
    """(4T, 80) log-mel of digital silence for a log-mel model; None for other audio front-ends."""
    if audio != "audio_mel":
        return None
    return mel.log_mel(np.zeros(frames * SAMPLES_PER_FRAME, np.float32), frames)


class GraphScorer:
    """The exported graph (fp32, and its int8 twin) streamed over clips, with one session per file."""

    def __init__(self, export_dir: Path, int8: bool, chunk_frames: int) -> None:
        from talkhead.infer.v3face import onnx_session

        self.record = json.loads((export_dir / "export.json").read_text(encoding="utf-8"))
        self.chunk = chunk_frames
        self._tmp: tempfile.TemporaryDirectory | None = None
        files = {"onnx_fp32": export_dir / self.record["onnx"]["file"]}
        if int8:
            files["onnx_int8"] = self._int8_file(export_dir, files["onnx_fp32"])
        self.files = files
        self.sessions = {name: onnx_session(path) for name, path in files.items()}

    def _int8_file(self, export_dir: Path, fp32: Path) -> Path:
        """The export's int8 graph, or one quantized now (in a temporary folder) when it kept none."""
        from talkhead.export.v3face_onnx import quantize_if_large

        if self.record.get("int8"):
            return export_dir / self.record["int8"]["file"]
        self._tmp = tempfile.TemporaryDirectory(prefix="v3face-int8-")
        copy = Path(self._tmp.name) / fp32.name
        shutil.copyfile(fp32, copy)
        return quantize_if_large(copy, above_mb=0.0)

    def predict(self, name: str, clip: EvalClip) -> np.ndarray:
        """(T, 52) of one graph over one clip."""
        from talkhead.infer.v3face import predict_onnx

        return predict_onnx(self.files[name], clip.audio, clip.emotion, self.chunk, self.sessions[name], self.record)

    def sizes_mb(self) -> dict[str, float]:
        """File size of each scored graph."""
        return {name: round(path.stat().st_size / 2**20, 3) for name, path in self.files.items()}

    def close(self) -> None:
        """Remove the temporary int8 graph, if one was made."""
        if self._tmp is not None:
            self._tmp.cleanup()


def score(model_dir: Path, metadata: Path, export_dir: Path | None, cfg: EvaluateConfig) -> tuple[dict, dict]:
    """(metrics, tracks of the first clip for plotting: {name: (T, 52)}) of V3 Face on the held-out split."""
    from talkhead.export.crisp import crisp_offline
    from talkhead.infer.v3face import run_model
    from talkhead.models.v3face import load_model

    meta = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    audio, target_key = meta["audio"], f"blendshapes/{meta['train']['target']}"
    model = load_model(model_dir)
    split = eval_split(metadata)
    mean = mean_pose(metadata, target_key)
    graphs = GraphScorer(export_dir, cfg.onnx_int8, cfg.onnx_chunk_frames) if export_dir else None
    crisp_cfg = graphs.record["offline_crisp"] if graphs else None
    acc: dict[str, L1Sum] = {}
    first: dict[str, np.ndarray] = {}
    clips: list[str] = []
    try:
        for clip in iter_clips(metadata, split, AUDIO_KEYS[audio], target_key):
            frames = len(clip.target)
            preds = {"model": run_model(model, torch.from_numpy(clip.audio), clip.emotion),
                     "baseline_mean_pose": np.repeat(mean[None], frames, axis=0)}
            silence = silent_audio(audio, frames)
            if silence is not None:
                preds["baseline_silence"] = run_model(model, torch.from_numpy(silence), clip.emotion)
            if crisp_cfg:
                preds["model_crisp"] = crisp_offline(preds["model"], crisp_cfg["sigma"], crisp_cfg["threshold"],
                                                     crisp_cfg["scale"])
            for name in (graphs.files if graphs else ()):
                preds[name] = graphs.predict(name, clip)
            for name, pred in preds.items():
                acc.setdefault(name, L1Sum()).add(pred, clip.target)
            if not first:
                first = {"ground_truth": clip.target, **preds}
            clips.append(clip.clip)
        sizes = graphs.sizes_mb() if graphs else {}
    finally:
        if graphs:
            graphs.close()
    if not clips:
        raise ValueError(f"{metadata}: no {split} clip to evaluate")
    metrics = {"split": split, "split_note": "val" if split == "val" else "no val clips: scored on train",
               "clips": len(clips), "frames": acc["model"].frames, "audio": audio, "target": target_key,
               **{name: a.result() for name, a in acc.items()}}
    if "baseline_silence" not in acc:
        metrics["baseline_silence_absent"] = f"needs the {audio} front-end's checkpoint; not computed"
    if "onnx_int8" in acc:
        metrics["int8_cost_val_l1"] = round(metrics["onnx_int8"]["val_l1_all"] - metrics["onnx_fp32"]["val_l1_all"], 6)
        metrics["onnx_mb"] = sizes
    return metrics, {"clip": clips[0], "tracks": first}


def track_table(tracks: dict[str, np.ndarray], channels: list[str]) -> pd.DataFrame:
    """One row per frame: `frame` and `<source>_<channel>` for each track source and channel (a DVC plot)."""
    unknown = [c for c in channels if c not in ARKIT_NAMES]
    if unknown:
        raise ValueError(f"evaluate.plot_channels: not ARKit blendshape names: {unknown}")
    frames = len(tracks["ground_truth"])
    table = {"frame": np.arange(frames)}
    for source in ("ground_truth", "model", "model_crisp", "baseline_silence"):
        if source in tracks:
            for c in channels:
                table[f"{source}_{c}"] = np.round(tracks[source][:, ARKIT_NAMES.index(c)].astype(np.float64), 5)
    return pd.DataFrame(table)


def plot_tracks(table: pd.DataFrame, channels: list[str], clip: str, out_png: Path) -> None:
    """A PNG with one panel per channel: ground truth, model, model + crisp and the silence baseline over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"ground_truth": ("k", "-", "ground truth"), "model": ("tab:blue", "-", "model"),
              "model_crisp": ("tab:green", "--", "model + crisp"), "baseline_silence": ("tab:red", ":", "silent audio")}
    fig, axes = plt.subplots(len(channels), 1, figsize=(10, 2.6 * len(channels)), sharex=True, squeeze=False)
    t = table["frame"].to_numpy() / 25.0
    for ax, channel in zip(axes[:, 0], channels):
        for source, (color, line, label) in styles.items():
            column = f"{source}_{channel}"
            if column in table:
                ax.plot(t, table[column], color=color, linestyle=line, linewidth=1.2, label=label)
        ax.set_ylabel(channel)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncols=4)
    axes[0, 0].set_title(f"V3 Face on held-out clip {clip}")
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100, metadata={"Software": None})  # no version stamp: byte-stable files
    plt.close(fig)


def evaluate_v3face(model: Path, metadata: Path, export: Path | None, out: Path, cfg: EvaluateConfig) -> dict:
    """Score, then write the folder `out` atomically (the evaluate_v3face phase: metrics.json, tracks.csv,
    plots/tracks.png); return the metrics."""
    metrics, first = score(model, metadata, export, cfg)
    table = track_table(first["tracks"], list(cfg.plot_channels))
    with atomic_dir(out) as tmp:
        write_json(tmp / "metrics.json", metrics | {"plotted_clip": first["clip"]})
        table.to_csv(tmp / "tracks.csv", index=False, float_format="%.5f")
        (tmp / "plots").mkdir()
        plot_tracks(table, list(cfg.plot_channels), first["clip"], tmp / "plots" / "tracks.png")
    return metrics
