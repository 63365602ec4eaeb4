"""Shared fixtures: paths to the repo and to the real media in ../shared (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("TALKHEAD_REAL_FIXTURES", REPO.parent / "shared" / "fixtures" / "real"))


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def real_media() -> Path:
    """../shared/fixtures/real, or skip the test with the reason."""
    if not (REAL / "expected.csv").is_file():
        pytest.skip(f"real fixtures not found at {REAL} (set TALKHEAD_REAL_FIXTURES to use another folder)")
    return REAL


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory) -> Path:
    """A tiny demo dataset (1 speaker, 1 clip of 2 s at 128 px, plus the negatives); returns the manifest."""
    from talkhead.config import DemoConfig
    from talkhead.demo import write_demo_dataset

    out = tmp_path_factory.mktemp("demo")
    cfg = DemoConfig.from_dict({"speakers": 1, "clips_per_speaker": 1, "seconds": 2.0, "size": 128, "negatives": True})
    return write_demo_dataset(out, cfg)


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module: tiny models train fastest so (and a busy 2-core box thrashes with more)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def png_header():
    """(width, height) → the bytes of a PNG whose header claims that size, with a few bytes of data: an image
    too large (or truncated) to decode, cheap to write and to refuse."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def make(width: int, height: int) -> bytes:
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                + chunk(b"IEND", b""))

    return make
