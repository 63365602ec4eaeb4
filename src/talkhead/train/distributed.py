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

    DDP keeps a full copy per rank and averages gradients in backward. FSDP (PyTorch's `fully_shard`,
    FSDP2: https://pytorch.org/docs/stable/distributed.fsdp.fully_shard.html) shards parameters,
    gradients and optimizer state over the ranks (for models that do not fit on one device), in place:
    build the optimizer on the model's parameters after this call. `shard_units` are the block classes
    sharded one by one, innermost first, so a forward gathers one block's parameters at a time instead of
    the whole model's; the rest of the model is one unit. FSDP2 runs on CUDA (nccl) and on the CPU (gloo),
    which is how the tests check it.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown parallel strategy {strategy!r} (one of {STRATEGIES})")
    if not world.distributed:
        return model
    if strategy == "ddp":
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (world.size,))
    for module in reversed(list(model.modules())):  # children before the blocks that hold them
        if module is not model and isinstance(module, shard_units):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _full_options():  # torch's StateDictOptions (imported lazily): full tensors, gathered on rank 0's CPU
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def gather_state(model: nn.Module, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An FSDP model's full weights and its optimizer's full state on rank 0's CPU (empty dicts elsewhere).

    A collective: every rank calls it. The optimizer state comes in torch's own layout (`state` and the
    groups' `params` by parameter index, as `Optimizer.state_dict()` of an unsharded model gives it), so
    a run checkpointed under FSDP resumes on any number of processes, FSDP or not. Uses
    `torch.distributed.checkpoint.state_dict`, which gathers the shards (DTensors) of every rank.
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    weights = get_model_state_dict(model, options=_full_options())
    by_name = get_optimizer_state_dict(model, opt, options=_full_options())
    if not dist.is_initialized() or dist.get_rank() == 0:
        return weights, _by_index(by_name, _parameter_names(model))
    return {}, {}


def scatter_optimizer(model: nn.Module, opt: torch.optim.Optimizer, state: dict) -> None:
    """Load a full optimizer state in torch's index layout (as `gather_state` returns it, or an unsharded
    optimizer's `state_dict()`) into the optimizer of an FSDP model: each rank keeps its shard."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    names = _parameter_names(model)
    by_name = {"state": {names[i]: v for i, v in state["state"].items()},
               "param_groups": [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]}
    # strict=False: a parameter that never had a gradient (e.g. an embedding used only under CFG dropout) has
    # no AdamW state in the file, as it has none in the optimizer that wrote it
    set_optimizer_state_dict(model, opt, by_name, options=StateDictOptions(full_state_dict=True, strict=False))


def _parameter_names(model: nn.Module) -> list[str]:
    """Parameter names in `model.parameters()` order (the optimizer's index order)."""
    return [name for name, _ in model.named_parameters()]


def _by_index(state: dict, names: list[str]) -> dict:
    """An optimizer state keyed by parameter name → keyed by index in `names`."""
    index = {name: i for i, name in enumerate(names)}
    return {"state": {index[k]: v for k, v in state["state"].items()},
            "param_groups": [{**g, "params": [index[p] for p in g["params"]]} for g in state["param_groups"]]}


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP/FSDP wrapper (for state dicts and attribute access)."""
    return getattr(model, "module", model)
