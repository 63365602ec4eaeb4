"""The files of a resumable training run, shared by every trainer (talkhead.train.harness).

A run writes its folder in place: best.safetensors, last.safetensors + state.safetensors (weights and
optimizer moments after the last epoch), a private copy of the best weights (RESUME_BEST, which a
workflow manager does not delete with a failed job's outputs; both only for a run that keeps a best),
metrics, and state.json last, so that state.json names only files already written. A run started again
with the same fingerprint resumes after its last finished epoch and ends with byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from talkhead.atomic import atomic_path, write_json

log = logging.getLogger(__name__)

RESUME_BEST = "resume_best.safetensors"  # the best weights, kept where a workflow manager does not delete them


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Tensors (sorted keys, CPU, contiguous) as safetensors, atomically.

    The header's metadata map is serialised in hash order, so it holds one key only (for
    byte-identical files): {"format": "pt"} by default.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in sorted(tensors.items())}
    metadata = metadata or {"format": "pt"}
    if len(metadata) != 1:
        raise ValueError(f"one metadata key only (byte-stable headers), got {sorted(metadata)}")
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata=metadata)


def data_digest(metadata: Path) -> str:
    """sha256 (16 hex) of the metadata table and each packed clip's name and size: a run resumes only on the same
    data."""
    h = hashlib.sha256(metadata.read_bytes())
    for row in pd.read_parquet(metadata, columns=["file"])["file"]:
        path = metadata.parent / row
        h.update(f"{row}:{path.stat().st_size if path.is_file() else -1}".encode())
    return h.hexdigest()[:16]


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """AdamW state as (flat tensors '<param>.<name>', JSON-able param groups)."""
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v for i, st in sd["state"].items() for k, v in st.items()}
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def load_optimizer(opt: torch.optim.Optimizer, path: Path, groups: list[dict]) -> None:
    """Restore AdamW from state.safetensors and the param groups of state.json."""
    flat = load_file(str(path))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in groups]
    opt.load_state_dict({"state": state, "param_groups": groups})


def read_run(out_dir: Path, fingerprint: dict) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """(state.json, last weights) of a matching interrupted run in `out_dir`, else None (start fresh).

    For a trainer whose model changes shape during the run (the Gaussian heads densify): it builds the model from
    the weights and its state, then calls `restore_run`. The others call `resume_run`."""
    path, last = out_dir / "state.json", out_dir / "last.safetensors"
    if not path.is_file() or not last.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    with safe_open(str(last), "pt") as fh:
        last_epoch = (fh.metadata() or {}).get("epoch")
    torn = last_epoch != str(state.get("epoch")) or (state.get("best") is not None
                                                      and not (out_dir / RESUME_BEST).is_file())
    if state.get("fingerprint") != fingerprint or torn:
        log.warning("%s: state of a different (or torn) run; starting the phase afresh", out_dir)
        return None
    return state, load_file(str(last))


def restore_run(out_dir: Path, state: dict, opt: torch.optim.Optimizer) -> None:
    """The optimizer and torch's RNG as the run left them after its last epoch."""
    load_optimizer(opt, out_dir / "state.safetensors", state["optimizer"])
    torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
    log.info("%s: resuming after epoch %d", out_dir, state["epoch"] + 1)


def resume_run(out_dir: Path, fingerprint: dict, model: nn.Module, opt: torch.optim.Optimizer) -> dict | None:
    """The state.json of a matching interrupted run, with model and optimizer restored; None to start fresh."""
    found = read_run(out_dir, fingerprint)
    if found is None:
        return None
    state, weights = found
    model.load_state_dict(weights, strict=True)
    restore_run(out_dir, state, opt)
    return state


def write_epoch_files(out_dir: Path, model: nn.Module, opt: torch.optim.Optimizer, state: dict, improved: bool,
                      write_metrics: Callable[[], None]) -> None:
    """Write an epoch's files (best/last weights, optimizer, metrics via `write_metrics`); state.json last, so
    that it names only files already written. Shared by every resumable trainer."""
    weights = {k: v for k, v in model.state_dict().items()}
    if improved:  # the resume copy survives a workflow manager deleting the declared outputs of a failed job
        save_tensors(out_dir / RESUME_BEST, weights)
        shutil.copyfile(out_dir / RESUME_BEST, out_dir / "best.safetensors")
    save_tensors(out_dir / "last.safetensors", weights, {"epoch": str(state["epoch"])})
    tensors, groups = optimizer_tensors(opt)
    save_tensors(out_dir / "state.safetensors", tensors, {"epoch": str(state["epoch"])})
    write_metrics()
    write_json(out_dir / "state.json", {**state, "optimizer": groups, "torch_rng": torch.get_rng_state().tolist()})


def rounded(values: dict) -> dict:
    """Floats rounded to 8 digits (what the metrics files store)."""
    return {k: round(v, 8) if isinstance(v, float) else v for k, v in values.items()}
