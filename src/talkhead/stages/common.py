"""What every stage entry point shares: the argument parser skeleton and the run wrapper."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from talkhead.config import ConfigError
from talkhead.logs import setup_logging

log = logging.getLogger(__name__)


def stage_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argparse parser with the flags every stage takes: --cfg (its params section as JSON) and -v."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--cfg", default="", help="this stage's params section as JSON (default: schema defaults)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    return parser


def run_stage(body: Callable[[argparse.Namespace], str], parser: argparse.ArgumentParser,
              argv: Sequence[str] | None) -> int:
    """Parse args, set up logging, run `body`, log its one-line summary; exit 2 on a config error."""
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        summary = body(args)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    log.info("%s", summary)
    return 0


def accepted_measures(quality_dir: Path) -> dict:
    """The gate's measures of a clip it accepted (with `clip`); ValueError for a rejected clip.

    Feature stages run only on accepted clips (the qc checkpoint), so a rejected one here is a
    wiring error worth stopping for, not a data problem.
    """
    q = json.loads((Path(quality_dir) / "quality.json").read_text(encoding="utf-8"))
    if q["verdict"] != "accept":
        raise ValueError(f"{quality_dir}: clip {q['clip']} was rejected ({', '.join(q['reasons'])})")
    return {**q["measures"], "clip": q["clip"]}
