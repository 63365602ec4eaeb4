"""Multi-process training helpers: torchrun's environment → a process group, batch shards, DDP/FSDP.

Under `torchrun --standalone --nproc-per-node N` every process finds RANK, WORLD_SIZE, LOCAL_RANK
and MASTER_ADDR/PORT in its environment; without them the process is a world of one and every
helper here is a no-op. The backend is nccl for CUDA devices and gloo for the CPU. The data-parallel
contract (PyTorch DDP, https://arxiv.org/abs/2006.15704): each rank takes a disjoint, equal share of
the same global batch and DDP averages the gradients, so N processes with global batch B take the
same optimizer steps as one process with batch B. Only rank 0 writes files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)

T = TypeVar("T")
STRATEGIES = ("ddp", "fsdp")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process trains."""
        return self.size > 1


def env_world() -> World:
    """The World torchrun describes in the environment (a world of one without torchrun)."""
    return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                 int(os.environ.get("LOCAL_RANK", 0)))


def init(device: str = "cpu", timeout_s: float = 600) -> tuple[World, torch.device]:
    """Join torchrun's process group (gloo on CPU, nccl on CUDA); the world and this rank's device.

    A CUDA device without an index becomes `cuda:<LOCAL_RANK>` (one GPU per process).
    """
    world = env_world()
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", world.local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world.distributed and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=timedelta(seconds=timeout_s))
        log.info("rank %d/%d joined the %s process group on %s", world.rank, world.size, backend, dev)
    return world, dev


def shutdown() -> None:
    """Leave the process group (when one was joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op for a world of one)."""
    if dist.is_initialized():
        dist.barrier()


def shard(items: Sequence[T], world: World) -> list[T]:
    """This rank's contiguous share of a global batch; the batch must split evenly over the ranks."""
    if len(items) % world.size:
        raise ValueError(f"a global batch of {len(items)} does not split over {world.size} processes")
    per = len(items) // world.size
    return list(items[world.rank * per:(world.rank + 1) * per])


def mean_over_ranks(value: float) -> float:
    """The mean of a per-rank scalar over all ranks (itself for a world of one)."""
    if not dist.is_initialized():
        return value
    dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([value], dtype=torch.float64, device=dev)  # nccl reduces CUDA tensors only
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def wrap_model(model: nn.Module, strategy: str, world: World, device: torch.device,
               shard_units: tuple[type[nn.Module], ...] = ()) -> nn.Module:
    """`model` for training across the world: itself for one process, else DDP or FSDP by name.

    DDP keeps a full copy per rank and averages gradients in backward. FSDP shards parameters,
    gradients and optimizer state over the ranks (for models that do not fit on one device);
    with FSDP, build the optimizer on the wrapped module's parameters. `shard_units` are the block
    classes FSDP wraps one by one (its auto-wrap policy), so a forward gathers one block's full
    parameters at a time instead of the whole model's; without them the model is one unit.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown parallel strategy {strategy!r} (one of {STRATEGIES})")
    if not world.distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    if strategy == "ddp":
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    policy = ModuleWrapPolicy(set(shard_units)) if shard_units else None
    return FullyShardedDataParallel(model, device_id=device if device.type == "cuda" else None, use_orig_params=True,
                                    auto_wrap_policy=policy)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP/FSDP wrapper (for state dicts and attribute access)."""
    return getattr(model, "module", model)
