"""Logging set-up for entry points, and progress bars that only draw on a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(verbose: int = 0) -> None:
    """Configure the root logger once, to stderr (rules redirect stderr to their log file)."""
    level = logging.DEBUG if verbose > 0 else logging.INFO
    logging.basicConfig(level=level, format=FORMAT, datefmt="%H:%M:%S", stream=sys.stderr, force=True)
    for noisy in ("matplotlib", "urllib3", "filelock", "absl", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def progress(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap an iterable in a tqdm bar when stderr is a terminal; pass it through otherwise."""
    return iter(tqdm(items, desc=desc, total=total, unit=unit, disable=not sys.stderr.isatty(), leave=False))
