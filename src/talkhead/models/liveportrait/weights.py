"""Reading LivePortrait's official checkpoints from a folder in the release layout, and loading them strictly.

The release (HF KwaiVGI/LivePortrait, folder `liveportrait/`) holds one file per network:

    base_models/appearance_feature_extractor.pth   F
    base_models/motion_extractor.pth               M
    base_models/warping_module.pth                 W
    base_models/spade_generator.pth                G
    retargeting_models/stitching_retargeting_module.pth   S (three MLPs)

Each may also be a `.safetensors` file of the same name. A `.pth` is read with
`torch.load(weights_only=True)` (tensors only, no pickled code). Keys lose a leading `module.`
(what DataParallel adds). The stitching file is a dict of three state dicts, `retarget_shoulder`
(the stitching MLP), `retarget_mouth` (lip) and `retarget_eye` (eye); `load_state` flattens it to
`retarget_shoulder.<key>` etc., the same keys a `.safetensors` version of that file holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

from talkhead.config_base import ConfigError
from talkhead.models.checkpoint import file_digest

CHECKPOINT_FILES: dict[str, str] = {
    "appearance_feature_extractor": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping_module": "base_models/warping_module.pth",
    "spade_generator": "base_models/spade_generator.pth",
    "stitching_retargeting_module": "retargeting_models/stitching_retargeting_module.pth",
}
_SHOWN = 5  # keys named in a mismatch message, per kind


def _layout() -> str:
    return ", ".join(CHECKPOINT_FILES.values())


def checkpoint_path(directory: Path, name: str) -> Path:
    """The file of network `name` under `directory`: the `.safetensors` version if present, else the `.pth`."""
    if name not in CHECKPOINT_FILES:
        raise ConfigError(f"unknown LivePortrait network '{name}'; expected one of {sorted(CHECKPOINT_FILES)}")
    pth = Path(directory) / CHECKPOINT_FILES[name]
    for path in (pth.with_suffix(".safetensors"), pth):
        if path.is_file():
            return path
    raise ConfigError(f"LivePortrait checkpoint '{name}' not found: expected {pth} (or "
                      f"{pth.with_suffix('.safetensors')}); the folder must follow the official release layout "
                      f"({_layout()})")


def _flatten(state: Mapping, prefix: str = "") -> dict[str, torch.Tensor]:
    """Nested dicts of tensors → one flat dict with dotted keys, `module.` stripped at every level."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = str(key).removeprefix("module.")
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, torch.Tensor):
            out[f"{prefix}{key}"] = value
        else:
            raise ConfigError(f"{prefix}{key}: expected a tensor in a LivePortrait checkpoint, "
                              f"got {type(value).__name__}")
    return out


def load_state(directory: Path, name: str) -> dict[str, torch.Tensor]:
    """The state dict of network `name` from a folder in the release layout (CPU tensors, `module.` stripped)."""
    path = checkpoint_path(directory, name)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        raw: Mapping = load_file(str(path), device="cpu")
    else:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated file, or one that pickles more than tensors
            raise ConfigError(f"{path}: not a readable tensor checkpoint ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a state dict, got {type(raw).__name__}")
    return _flatten(raw)


def load_module(module: nn.Module, directory: Path, name: str) -> nn.Module:
    """Load network `name` from `directory` into `module` strictly; returns it in eval mode.

    Raises ConfigError naming the first missing / unexpected keys and shape mismatches.
    """
    state = load_state(directory, name)
    where = checkpoint_path(directory, name)
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = [f"{label} ({len(keys)}): {', '.join(keys[:_SHOWN])}{', …' if len(keys) > _SHOWN else ''}"
                for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                    ("wrong shapes", shapes)) if keys]
    if problems:
        raise ConfigError(f"{where} does not match talkhead's {type(module).__name__} ('{name}'): "
                          + "; ".join(problems))
    module.load_state_dict(state, strict=True)
    return module.eval()


def checkpoint_digest(directory: Path, name: str) -> str:
    """`sha256:<16 hex>` of network `name`'s checkpoint file (provenance of features computed with it)."""
    return file_digest([checkpoint_path(directory, name)])
