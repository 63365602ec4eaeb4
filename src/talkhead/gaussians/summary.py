"""The train_gaussians phase's summary: the speakers' metrics → data/models/gaussians/metrics.json and metrics.csv.

In gaussians (layer 5), with the heads whose per-speaker metrics talkhead.gaussians.train writes: its one import,
talkhead.atomic, would allow any layer, and gaussians is the lowest that holds the heads. No torch: the job stays light.

Summary mode (the stage's --summarize) merges the speakers' metrics into data/models/gaussians/metrics.json (the
mean over speakers, and each speaker's) and metrics.csv (the DVC metrics and plot).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from talkhead.atomic import write_json, write_text

# averaged over speakers
MEAN_KEYS = ("psnr_init", "psnr", "ssim_init", "ssim", "lmd_mediapipe", "lmd_mediapipe_static")


def summarize(metrics: Sequence[Path], out_json: Path, out_csv: Path) -> str:
    """Merge per-speaker metrics.json (+ the metrics.csv beside each) into one file each; returns the summary line.

    metrics.json: `mean` (MEAN_KEYS over the speakers that report them) and `speaker_count` under keys that
    are the same for every dataset (what `dvc metrics diff` / `dvc exp show` compare across runs), and
    `speakers`: each speaker's own metrics under its id."""
    merged, rows = {}, []
    for path in metrics:
        m = json.loads(Path(path).read_text(encoding="utf-8"))
        merged[m["speaker"]] = m
        lines = (Path(path).parent / "metrics.csv").read_text(encoding="utf-8").splitlines()
        rows += [f"{m['speaker']},{line}" for line in lines[1:]]
        header = lines[0]
    if not merged:
        raise ValueError("--summarize needs at least one metrics.json")
    mean = {}
    for key in MEAN_KEYS:
        values = [m[key] for m in merged.values() if isinstance(m.get(key), (int, float))]
        if values:
            mean[key] = round(sum(values) / len(values), 8)
    write_json(out_json, {"mean": mean, "speaker_count": len(merged), "speakers": merged})
    write_text(out_csv, f"speaker,{header}\n" + "".join(r + "\n" for r in rows))
    return "gaussians: " + "; ".join(f"{s} held-out PSNR {m['psnr_init']:.2f} → {m['psnr']:.2f} dB"
                                     for s, m in merged.items())
