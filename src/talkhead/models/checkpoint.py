"""What every trained model folder shares: deterministic torch, weight digests, reading config.json + weights.

A model folder holds `config.json` (with a `format` naming the model family and version) and
safetensors weights; feature files and later models name the weights by `file_digest`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Self, TypeVar

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from talkhead.data.featurefile import read_features

M = TypeVar("M", bound=nn.Module)


class IntSpec:
    """Base of the frozen architecture dataclasses with integer fields (V3FaceSpec, MotionDiTSpec, …): the plain
    dict a config.json stores, and back."""

    def to_dict(self) -> dict[str, int]:
        """The spec as a plain dict (what config.json stores)."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """Build from a dict, ignoring keys that are not spec fields (e.g. a whole params section)."""
        return cls(**{f.name: int(values[f.name]) for f in fields(cls) if f.name in values})  # type: ignore[arg-type]


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Run the block with torch's deterministic algorithms (warn-only), restoring the previous setting."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def file_digest(paths: list[Path]) -> str:
    """`sha256:<16 hex>` of one weights file, or of the names and hashes of several."""
    hashes = []
    for path in sorted(paths):
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        hashes.append((path.name, h.hexdigest()))
    if len(hashes) == 1:
        return f"sha256:{hashes[0][1][:16]}"
    joined = "\n".join(f"{name}:{digest}" for name, digest in hashes).encode()
    return f"sha256:{hashlib.sha256(joined).hexdigest()[:16]}"


def read_checkpoint(model_dir: str | Path, weights: str, fmt: str, what: str) -> tuple[dict, dict, Path]:
    """(config.json, the state dict, the weights path) of a model folder; clear errors naming `what` it should be."""
    model_dir = Path(model_dir)
    config, path = model_dir / "config.json", model_dir / weights
    if not config.is_file() or not path.is_file():
        raise FileNotFoundError(f"{model_dir}: not {what} folder (needs config.json and {weights})")
    meta = json.loads(config.read_text(encoding="utf-8"))
    if meta.get("format") != fmt:
        raise ValueError(f"{config}: format {meta.get('format')!r} is not {fmt}")
    return meta, load_file(str(path)), path


STATS_FILE = "motion_stats.safetensors"  # the training split's motion mean/std, copied beside a motion model


def load_motion_stats(path: str | Path) -> dict[str, np.ndarray]:
    """`mean` and `std` (70,) float32 of a motion statistics file (features/_stats or a model folder's copy)."""
    tensors, _ = read_features(path, keys=["mean", "std"])
    return {k: v.astype(np.float32) for k, v in tensors.items()}


def load_model_folder(model_dir: str | Path, fmt: str, what: str,
                      from_config: Callable[[dict], M], device: str = "cpu") -> tuple[M, dict]:
    """(the model in eval mode on `device`, its config.json) of a folder with config.json + best.safetensors:
    `from_config` builds the untrained architecture the config records, the weights are loaded strictly."""
    meta, state, _ = read_checkpoint(model_dir, "best.safetensors", fmt, what)
    model = from_config(meta)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), meta
