"""What every stage entry point shares: the argument parser skeleton and the run wrapper."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence

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

