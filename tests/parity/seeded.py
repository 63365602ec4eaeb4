"""Seeded weights that both sides of a parity test can build: a value per (seed, key, shape).

A parity test runs a reference implementation (outside talkhead, from its public repository) and
talkhead's own implementation under the SAME weights. Weights of real architectures are too large
to store as fixtures, so each tensor is drawn from a generator seeded by the tensor's state-dict
key: any process that knows the keys and shapes rebuilds the same state dict, whatever order the
modules were constructed in. Equal keys and shapes are themselves part of what a parity test checks
(talkhead loads the official checkpoints strictly).

Scales keep activations finite through deep random networks: a weight of fan-in n is drawn
N(0, gain² / n); norm-layer scales near 1, biases and running means small, running variances in
[0.5, 1.5]; spectral-norm vectors (`weight_u`, `weight_v`) unit length.

The fixture scripts (benchmarks/parity/*.py, run against a reference checkout) import this file by
path, so it depends on numpy and torch only.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np
import torch


def key_rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on (seed, key)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def seeded_tensor(seed: int, key: str, shape: tuple[int, ...], dtype: torch.dtype = torch.float32,
                  gain: float = 1.0) -> torch.Tensor:
    """The value of state-dict entry `key` of `shape` under `seed`."""
    if not dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype)  # num_batches_tracked and other counters
    rng = key_rng(seed, key)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_var":
        value = rng.uniform(0.5, 1.5, shape)
    elif leaf == "running_mean":
        value = 0.1 * rng.standard_normal(shape)
    elif leaf in ("weight_u", "weight_v"):
        value = rng.standard_normal(shape)
        value /= max(np.linalg.norm(value), 1e-12)
    elif len(shape) <= 1:
        is_scale = leaf in ("weight", "gamma", "scale")
        value = (1.0 if is_scale else 0.0) + 0.1 * rng.standard_normal(shape)
    else:
        fan_in = math.prod(shape[1:]) if shape[0] > 0 else 1
        value = rng.standard_normal(shape) * (gain / math.sqrt(max(fan_in, 1)))
    return torch.as_tensor(np.asarray(value, np.float64)).to(dtype)


def seeded_state_dict(template: Mapping[str, torch.Tensor], seed: int, gain: float = 1.0) -> dict[str, torch.Tensor]:
    """Every entry of `template` (a module's state_dict) replaced by its seeded value."""
    return {key: seeded_tensor(seed, key, tuple(t.shape), t.dtype, gain) for key, t in template.items()}


def fill_seeded(module: torch.nn.Module, seed: int, gain: float = 1.0) -> torch.nn.Module:
    """Load seeded values into every parameter and buffer of `module` (strict); returns it in eval mode."""
    module.load_state_dict(seeded_state_dict(module.state_dict(), seed, gain), strict=True)
    return module.eval()
