"""What the fixture scripts of benchmarks/parity/ share when they run a reference implementation.

Each script runs a public reference (outside the project: a checkout given by --reference) under the
seeded weights of tests/parity/seeded.py and stores its inputs and outputs as a fixture; these helpers
give every script the same command line and record which reference commit produced the fixture.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch


def reference_commit(reference: Path, given: str = "") -> str:
    """`given`, else the reference checkout's commit when it is a git work tree, else ''."""
    if given:
        return given
    try:
        return subprocess.run(["git", "-C", str(reference), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return ""


def reference_args(description: str, fixture: Path, argv: list[str] | None,
                   reference_help: str = "an extracted checkout of the reference") -> argparse.Namespace:
    """--reference DIR, --commit SHA, --out FIXTURE parsed; logging on, one torch thread (the tests' setting),
    and the reference checkout first on sys.path so that its own imports (`from src.…`) resolve."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--reference", type=Path, required=True, help=reference_help)
    ap.add_argument("--commit", default="", help="the reference commit, when --reference is not a git work tree")
    ap.add_argument("--out", type=Path, default=fixture)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    sys.path.insert(0, str(args.reference.resolve()))
    args.commit = reference_commit(args.reference, args.commit)
    return args


def write_fixture(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """The fixture as a compressed .npz (its folder made), and its size logged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    logging.getLogger(__name__).info("wrote %s (%.0f kB)", path, path.stat().st_size / 1024)
