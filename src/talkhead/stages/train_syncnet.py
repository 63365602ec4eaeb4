"""Stage `train_syncnet`: the self-trained SyncNet-style lip-sync scorer on the packed dataset's training split.

Reads data/dataset/metadata.parquet and the packed clips; writes data/models/syncnet/ (config.json,
model.safetensors, loss.csv as a DVC plot, loss.png, metrics.json: its held-out self-check in sync
and with the audio delayed). Its scores are `sync_c_selftrained` / `sync_d_selftrained`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import SyncnetConfig
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    from talkhead.train.syncnet import train_selftrained_syncnet

    m = train_selftrained_syncnet(Path(args.metadata), Path(args.out), SyncnetConfig.from_json(args.cfg))
    late = next(k for k in m if k.startswith("av_offset_selftrained_audio_late_"))
    return (f"train_syncnet: loss {m['loss_first']:.3f} → {m['loss_last']:.3f} (chance {m['chance_loss']:.3f}); "
            f"{m['split']} self-check Sync-C {m['sync_c_selftrained']:.3f}, offset found for "
            f"{late.rsplit('_', 1)[-1]} frames of audio delay: {m[late]:+.1f} → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.train_syncnet --metadata PARQUET --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.train_syncnet", __doc__.splitlines()[0])
    parser.add_argument("--metadata", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--out", required=True, help="data/models/syncnet")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
