"""DualForce under torchrun: 2 processes (gloo, CPU) train what 1 process trains, with DDP and with FSDP, and an
interrupted FSDP run resumes exactly (weights and AdamW moments)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from test_dualforce_train import CFG, _cfg, _rows, packed_dataset

from talkhead.train.dualforce import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SHORT = {"epochs": 2, "steps_per_epoch": 3}  # few steps: rounding differences stay at rounding size


def torchrun(*args: str, nproc: int = 2, **cfg) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node N -m talkhead.stages.train_dualforce ...`, as the rule runs it."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
           "-m", "talkhead.stages.train_dualforce", *args,
           "--cfg", json.dumps({**CFG, **SHORT, "nproc": nproc, **cfg})]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def test_two_processes_train_what_one_process_trains(tmp_path):
    metadata, stats = packed_dataset(tmp_path / "data")
    train(metadata, stats, _cfg(**SHORT), tmp_path / "single")
    args = ["--metadata", str(metadata), "--stats", str(stats)]
    torchrun(*args, "--out", str(tmp_path / "double"))
    one, two = load_file(str(tmp_path / "single" / "last.safetensors")), load_file(str(tmp_path / "double" /
                                                                                         "last.safetensors"))
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], atol=1e-5, rtol=1e-4, msg=key)
    for r1, r2 in zip(_rows(tmp_path / "single"), _rows(tmp_path / "double")):
        for key in r1:
            assert r2[key] == pytest.approx(r1[key], abs=1e-5), (key, r1, r2)


def test_fsdp_trains_what_one_process_trains_and_resumes_exactly(tmp_path):
    metadata, stats = packed_dataset(tmp_path / "data")
    train(metadata, stats, _cfg(**SHORT), tmp_path / "single")
    args = ["--metadata", str(metadata), "--stats", str(stats)]
    torchrun(*args, "--out", str(tmp_path / "fsdp"), strategy="fsdp")
    one, sharded = (load_file(str(tmp_path / run / "last.safetensors")) for run in ("single", "fsdp"))
    assert one.keys() == sharded.keys()
    for key in one:
        torch.testing.assert_close(sharded[key], one[key], atol=1e-5, rtol=1e-4, msg=key)
    # killed after its first epoch, then run again: the AdamW moments come back from state.safetensors
    torchrun(*args, "--out", str(tmp_path / "resumed"), strategy="fsdp", epochs=1)
    proc = torchrun(*args, "--out", str(tmp_path / "resumed"), strategy="fsdp")
    assert "resuming after epoch 1" in proc.stdout + proc.stderr
    for name in ("last.safetensors", "state.safetensors", "best.safetensors", "metrics.csv"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "fsdp" / name).read_bytes(), name
