"""Stage `train_microalbert`: MicroAlbert distilled from its teacher (two steps, one module).

    --step targets: build the unlabeled corpus and score it with the teacher → data/microalbert/
                    (targets.csv, embeddings.npy when the teacher has them, teacher.json)
    --step train:   the student on those scores → data/models/microalbert/ in place (config.json,
                    tokenizer.json, best.safetensors, metrics.csv as a DVC plot, metrics.json; last/state files
                    + state.json let an interrupted run resume)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import ConfigError, MicroalbertConfig
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    from talkhead.train.microalbert import label_corpus, train

    cfg = MicroalbertConfig.from_json(args.cfg)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # the job's threads, not every core of the node
    if args.step == "targets":
        s = label_corpus(cfg, Path(args.out))
        return (f"microalbert targets: {s['rows']} rows scored by {s['teacher']} in {s['seconds']:.0f} s "
                f"(mean V/A/D {s['mean']['valence']:.3f}/{s['mean']['arousal']:.3f}/{s['mean']['dominance']:.3f}) "
                f"→ {args.out}")
    if not args.targets:
        raise ConfigError("train_microalbert --step train needs --targets (data/microalbert/targets.csv)")
    s = train(Path(args.targets), cfg, Path(args.out))
    return (f"train_microalbert: {s['parameters']:,} parameters, {s['rows']} training rows, best epoch "
            f"{s['best_epoch']}/{s['epochs']} (val mean r {s['best_val_mean_r']:.3f}), "
            f"{s['seconds']:.0f} s → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.train_microalbert --step targets|train [--targets CSV] --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.train_microalbert", __doc__.splitlines()[0])
    parser.add_argument("--step", required=True, choices=("targets", "train"))
    parser.add_argument("--targets", default="", help="train: data/microalbert/targets.csv")
    parser.add_argument("--out", required=True, help="targets: data/microalbert; train: data/models/microalbert")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (the rule's `threads`; 0: torch's default)")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
