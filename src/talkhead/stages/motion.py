"""Stage `motion`: one clip's mesh + head pose (or its crop, through LivePortrait) → MoDA's 70 motion values a frame.

Parses the arguments and runs talkhead.features.motion.motion_clip (--mesh, --pose) or, with `liveportrait.dir`
set (--cfg), talkhead.features.liveportrait_motion.liveportrait_motion_clip (--crop, --quality); their module
docstrings describe the data/features/{clip}/motion.safetensors they write.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import ConfigError, LiveportraitConfig
from talkhead.features import motion as mo
from talkhead.features.motion import motion_clip
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = LiveportraitConfig.from_json(args.cfg)
    needed = ("crop", "quality") if cfg.dir else ("mesh", "pose")
    missing = [f"--{name}" for name in needed if not getattr(args, name)]
    if missing:
        raise ConfigError(f"motion: {' and '.join(missing)} required "
                          f"(liveportrait.dir {'set' if cfg.dir else 'empty'})")
    if cfg.dir:
        from talkhead.features.liveportrait_motion import liveportrait_motion_clip  # torch: only with a folder

        info = liveportrait_motion_clip(Path(args.crop), Path(args.quality), Path(args.out), cfg)
    else:
        info = motion_clip(Path(args.mesh), Path(args.pose), Path(args.out))
    return f"motion {info['clip']}: {info['frames']} × {mo.DIM} → {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.motion --mesh FILE --pose FILE --out FILE [--crop DIR --quality DIR --cfg JSON].

    --cfg is the `liveportrait` section: with its `dir` set, motion comes from --crop (and --quality)."""
    parser = stage_parser("talkhead.stages.motion", __doc__.splitlines()[0])
    parser.add_argument("--mesh", default="", help="data/features/{clip}/face_mesh.safetensors")
    parser.add_argument("--pose", default="", help="data/features/{clip}/head_pose.safetensors")
    parser.add_argument("--crop", default="", help="data/crop/{clip} (with liveportrait.dir)")
    parser.add_argument("--quality", default="", help="data/quality/{clip} (with liveportrait.dir)")
    parser.add_argument("--out", required=True, help="data/features/{clip}/motion.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
