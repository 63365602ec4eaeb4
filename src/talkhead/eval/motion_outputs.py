"""The motion DiT's evaluation (phase `evaluate_motion_dit`): scored on the held-out speakers, DVC metrics + plots.

In eval (layer 6): it writes talkhead.eval.motion's scores and runs talkhead.eval.portraits. A sibling of
talkhead.eval.motion, which computes the scores and has a SOURCES of its own (the generated ones only).

Reads the trained model (data/models/motion_dit), the packed dataset and, when given, the self-trained
lip-sync scorer (data/models/syncnet), the crop videos (data/crop, for FID/FVD) and the A/V-aligned
audio (data/quality, for the published SyncNet); writes data/eval/motion_dit/: `metrics.json` (val L1,
mouth-envelope correlation of the guided, cfg-0, silent-audio and ground-truth motion, rendered LMD
beside the still face, sync scores, FID/FVD where configured; talkhead.eval.motion), `tracks.csv`
(envelope and mouth opening per frame of the first held-out clip, a DVC plot) and `plots/mouth.png`;
with evaluate.speaking_images and speaking_audio set, also the generator on those portraits and
recordings (speaking_* metrics, `speaking.csv`: talkhead.eval.portraits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from talkhead.atomic import atomic_dir
from talkhead.config import EvaluateConfig

SOURCES = ("ground_truth", "guided", "cfg0", "silence", "driven")  # driven: only with a mouth driver


def track_table(tracks: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per frame: frame, envelope and the mouth opening of each source (a DVC plot)."""
    table = {"frame": np.arange(len(tracks["envelope"]))}
    for column in ("envelope", *(f"mouth_{s}" for s in SOURCES if f"mouth_{s}" in tracks)):
        table[column] = np.round(tracks[column].astype(np.float64), 5)
    return pd.DataFrame(table)


def plot_mouth(table: pd.DataFrame, clip: str, out_png: Path) -> None:
    """A PNG of the mouth-opening tracks over time, the speech envelope shaded on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"ground_truth": ("k", "-", "ground truth"), "guided": ("tab:blue", "-", "guided"),
              "cfg0": ("tab:green", "--", "cfg 0"), "silence": ("tab:red", ":", "silent audio"),
              "driven": ("tab:purple", "-", "mouth driver")}
    t = table["frame"].to_numpy() / 25.0
    fig, ax = plt.subplots(figsize=(10, 3.2))
    env = ax.twinx()
    env.fill_between(t, table["envelope"], table["envelope"].min(), color="0.85")
    env.set_ylabel("speech envelope (log power)")
    for source, (color, line, label) in styles.items():
        if f"mouth_{source}" not in table:
            continue
        ax.plot(t, table[f"mouth_{source}"], color=color, linestyle=line, linewidth=1.2, label=label)
    ax.set_zorder(env.get_zorder() + 1)  # tracks over the shading
    ax.patch.set_visible(False)
    ax.set_ylabel("mouth opening (canonical units)")
    ax.set_xlabel("time (s)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, ncols=4)
    ax.set_title(f"Motion DiT: mouth opening on held-out clip {clip}")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100, metadata={"Software": None})  # no version stamp: byte-stable files
    plt.close(fig)


def speaking_rows(model: Path, cfg: EvaluateConfig, metrics: dict) -> list[dict] | None:
    """With evaluate.speaking_images and speaking_audio set: the generator (mouth driver included) makes every
    portrait speak every recording (talkhead.eval.portraits); its speaking_* metrics go into `metrics`. Else
    None, and the reason into metrics["absent"]."""
    import tempfile

    from talkhead.eval.portraits import AUDIO_SUFFIXES, IMAGE_SUFFIXES, files, score_portraits, summary_metrics

    if not (cfg.speaking_images and cfg.speaking_audio):
        metrics["absent"]["speaking_gap_std_median"] = "evaluate.speaking_images and speaking_audio are not both set"
        return None
    images, speech = files(cfg.speaking_images, IMAGE_SUFFIXES), files(cfg.speaking_audio, AUDIO_SUFFIXES)
    with tempfile.TemporaryDirectory(prefix="talkhead-speaking-") as work:
        rows = score_portraits(model, images, speech, Path(work))
    metrics.update(summary_metrics(rows))
    if "speaking_gap_std_median" not in metrics:
        metrics["absent"]["speaking_gap_std_median"] = "no portrait had a face the renderer could animate"
    return rows


def evaluate_motion_dit(model: Path, metadata: Path, out: Path, cfg: EvaluateConfig, syncnet: Path | None = None,
                        crop_root: Path | None = None, quality_root: Path | None = None) -> dict:
    """Score, then write the folder `out` atomically; return the metrics."""
    from talkhead.eval.metrics import write_metrics
    from talkhead.eval.motion import score

    metrics, tracks = score(model, metadata, cfg, syncnet, crop_root, quality_root)
    table = track_table(tracks)
    speaking = speaking_rows(model, cfg, metrics)
    with atomic_dir(out) as tmp:
        write_metrics(tmp / "metrics.json", metrics)
        table.to_csv(tmp / "tracks.csv", index=False, float_format="%.5f")
        if speaking is not None:
            pd.DataFrame(speaking).to_csv(tmp / "speaking.csv", index=False)
        (tmp / "plots").mkdir()
        plot_mouth(table, metrics["plotted_clip"], tmp / "plots" / "mouth.png")
    return metrics
