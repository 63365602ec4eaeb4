"""Which precision an inference extractor computes in: float16 / bfloat16 autocast where it is safe.

bfloat16 autocast on a CPU is not one thing: oneDNN picks its kernels by the CPU's instruction set,
and on CPUs with AMX (Intel Sapphire Rapids and later, common on clusters) the bf16 path of the test
HuBERT drifted from float32 by up to 1.23 (mean 0.21, correlation 0.965; features of magnitude
≤ 3.5), against 0.099 (mean 0.011, r 0.9999) with AMX switched off (`ONEDNN_MAX_CPU_ISA=AVX512_CORE`)
on the same machine. float16 stayed within 0.009 on both. So the same params would give different
features on different CPUs. Rules (docs/features.md):

- **cuda**: float32, float16 and bfloat16 are all used as asked (bfloat16 is the GPU default to pick);
- **cpu**: float32 and float16 as asked; bfloat16 computes in float32, with one warning saying so.

Weights stay float32 in every case; the lower precision is applied with `torch.autocast`.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_warned: set[str] = set()


def compute_dtype(requested: str, device: str | torch.device, what: str) -> torch.dtype:
    """The dtype `what` (an extractor's name, for the message) computes in on `device` when `requested`.

    Raises ValueError for a name outside DTYPES.
    """
    if requested not in DTYPES:
        raise ValueError(f"{what}: dtype must be one of {sorted(DTYPES)}, got {requested!r}")
    if requested == "bfloat16" and torch.device(device).type == "cpu":
        if what not in _warned:
            _warned.add(what)
            log.warning("%s: dtype bfloat16 on CPU computes in float32 — CPU bf16 kernels differ by CPU (on AMX "
                        "CPUs up to 20x further from float32), so the same params would give different features "
                        "on different machines; use bfloat16 with device cuda, or float16 on CPU", what)
        return torch.float32
    return DTYPES[requested]


def autocast(device: torch.device, dtype: torch.dtype) -> torch.autocast:
    """Autocast to `dtype` on `device` (a no-op context for float32)."""
    return torch.autocast(device.type, dtype, enabled=dtype != torch.float32)
