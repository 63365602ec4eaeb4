"""The epoch loop every resumable trainer shares (V3 Face's two phases, the motion DiT, DualForce, MicroAlbert, the
self-trained SyncNet, the video VAE and the Gaussian heads — the last three's "epochs" are blocks of steps).

A trainer supplies what differs: its seeded model and data, one epoch (`run_epoch`: train, validate, the
metrics row and the score that picks the best), what rank 0 writes (`checkpoint`) and its metrics files.
The harness owns the rest, identical for all: the run's state (fingerprint, history, best), resuming an
interrupted run (talkhead.train.run_files), the per-epoch files with state.json last, the log line, and
after a resume the outputs a workflow manager may have deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from talkhead.models.checkpoint import deterministic
from talkhead.train.run_files import RESUME_BEST, rounded, write_epoch_files

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EpochResult:
    """One epoch's metrics row (without `epoch`), the validation score that picks the best (lower is better; None
    for a run that keeps no best, only its last weights), the measures of its log line, and what else the run's
    state must carry to resume after this epoch (`state`: JSON-able, merged into state.json, e.g. a scheduler's
    state or per-step losses)."""

    row: dict[str, float]
    score: float | None
    message: str
    state: dict = dataclasses.field(default_factory=dict)


@contextlib.contextmanager
def seeded_run(seed: int) -> Iterator[None]:
    """Run the block with torch's deterministic algorithms and the global RNG seeded to `seed`; the caller's
    RNG state is restored afterwards (the process's state at start-up is not fixed)."""
    with torch.random.fork_rng(devices=[]), deterministic():
        torch.manual_seed(seed)
        yield


def run_fingerprint(cfg: Any, ignore: tuple[str, ...] = ("epochs",), **extra: Any) -> dict:
    """What must match for a run folder to be resumed: the training config (a dataclass) but the keys that do
    not change the epochs already run (`ignore`), and `extra` (the data digest, statistics, the init model)."""
    d = dataclasses.asdict(cfg)
    for key in ignore:
        d.pop(key)
    return {**d, **extra}


def fresh_state(fingerprint: dict, **extra: Any) -> dict:
    """The state of a run that has not finished an epoch."""
    return {"epoch": -1, "best": None, "best_epoch": None, "history": [], "fingerprint": fingerprint, **extra}


def epoch_draws(seed: list[int], epoch: int, steps: int, batch_size: int, clips: int,
                generators: bool = True) -> Iterator[tuple[list[tuple[int, int]], torch.Generator | None]]:
    """Per step of an epoch: the global batch's (clip, draw) picks — random clips, each window a fresh draw — and
    a torch.Generator for the step's noise, times and dropout (None with `generators` off). A function of
    (seed, epoch) only, so a resumed run draws what the uninterrupted one drew."""
    rng = np.random.default_rng([*seed, epoch])
    for step in range(steps):
        first = (epoch * steps + step) * batch_size  # a fresh draw per window
        picks = [(int(i), first + j) for j, i in enumerate(rng.integers(clips, size=batch_size))]
        yield picks, torch.Generator().manual_seed(int(rng.integers(2 ** 62))) if generators else None


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One step on `loss`; its value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def run_epochs(out_dir: Path, state: dict, epochs: int, name: str, run_epoch: Callable[[int], EpochResult],
               checkpoint: Callable[[], tuple[nn.Module, torch.optim.Optimizer] | None],
               write_metrics: Callable[[dict], None], main: bool = True) -> tuple[dict, int]:
    """Epochs state["epoch"] + 1 … epochs − 1; returns (the final state, the first epoch this call ran).

    `checkpoint` runs on every process after each epoch (under FSDP it gathers the weights, a collective) and
    returns the (model, optimizer) to write, or None on a process that writes nothing; it may write a trainer's
    own resume files first (state.json, written after it, names only files already written). `main` is whether
    this process writes the folder.
    """
    resumed = state["epoch"] + 1
    for epoch in range(resumed, epochs):
        result = run_epoch(epoch)
        improved = result.score is not None and (state["best"] is None or round(result.score, 8) < state["best"])
        row = rounded({"epoch": epoch + 1, **result.row})
        state = {**state, **result.state, "epoch": epoch, "history": [*state["history"], row]}
        if improved:
            state |= {"best": round(result.score, 8), "best_epoch": epoch + 1}
        saved = checkpoint()
        if saved is not None:
            write_epoch_files(out_dir, *saved, state, improved, lambda: write_metrics(state))
        log.info("%s epoch %d/%d: %s%s", name, epoch + 1, epochs, result.message, " (best)" if improved else "")
    if resumed and state["history"] and main:  # restore what a workflow manager may have deleted
        if state["best"] is not None:
            shutil.copyfile(out_dir / RESUME_BEST, out_dir / "best.safetensors")
        write_metrics(state)
    return state, resumed
