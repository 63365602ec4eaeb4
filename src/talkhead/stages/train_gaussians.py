"""Stage `train_gaussians`: a per-identity GaussianTalker-style 3D-Gaussian head for one speaker (docs/gaussians.md).

Train mode reads data/dataset/metadata.parquet, the packed clips it lists and the speaker's crop
videos (data/crop/{clip}/crop.mp4); writes data/models/gaussians/{speaker}/ in place (head.safetensors,
config.json, reference.safetensors, metrics.csv, metrics.json; resume files), so an interrupted run
started again resumes from its last checkpoint. Summary mode (--summarize) merges the speakers'
metrics into data/models/gaussians/metrics.json (the mean over speakers, and each speaker's) and
metrics.csv (the DVC metrics and plot).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from talkhead.atomic import write_json, write_text
from talkhead.config import GaussiansConfig
from talkhead.stages.common import run_stage, stage_parser


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


def _main(args: argparse.Namespace) -> str:
    if args.summarize:
        return summarize([Path(p) for p in args.summarize], Path(args.out) / "metrics.json",
                         Path(args.out) / "metrics.csv")
    if not args.metadata or not args.crop_dir:
        raise SystemExit("train mode needs --metadata and --crop-dir")
    from talkhead.gaussians.train import train

    m = train(Path(args.metadata), Path(args.crop_dir), GaussiansConfig.from_json(args.cfg), Path(args.out),
              args.speaker or None)
    lmd = m.get("lmd_mediapipe")
    return (f"gaussians {m['speaker']}: {m['iterations']} iterations, {m['gaussians']} Gaussians, held-out PSNR "
            f"{m['psnr_init']:.2f} → {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}, LMD "
            f"{'n/a' if lmd is None else f'{lmd:.4f}'} in {m['train_s']:.0f} s → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.train_gaussians --metadata PARQUET --crop-dir DIR --out DIR [--speaker ID]
    [--cfg JSON] | --summarize METRICS.json... --out DIR."""
    parser = stage_parser("talkhead.stages.train_gaussians", __doc__.splitlines()[0])
    parser.add_argument("--metadata", help="data/dataset/metadata.parquet")
    parser.add_argument("--crop-dir", help="data/crop (holds {clip}/crop.mp4)")
    parser.add_argument("--speaker", default="", help="manifest speaker id (default: gaussians.speakers / train split)")
    parser.add_argument("--out", required=True, help="the speaker's model folder (or, with --summarize, the phase's)")
    parser.add_argument("--summarize", nargs="+", help="per-speaker metrics.json files to merge")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
