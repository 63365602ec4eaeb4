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
