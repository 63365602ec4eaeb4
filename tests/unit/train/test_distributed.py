"""V3 Face under torchrun: 2 processes (gloo, CPU) train what 1 process trains, and resume under the launcher."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from test_v3face_train import CFG, OUTPUTS, _cfg, _dataset, _rows

from talkhead.train import distributed
from talkhead.train.distributed import World
from talkhead.train.v3face import train_phase

ATOL = 1e-5  # float rounding: two half-batch means averaged vs one full-batch mean
# Few steps: the rounding differences (~1e-7 per step) stay at rounding size. Over many steps at this
# lr, AdamW's normalised steps let them grow chaotically (~1e-3 after 24 steps) — still rounding.
SHORT = {"epochs_lipsync": 2, "epochs_expression": 2, "steps_per_epoch": 3}


def torchrun(stage: str, *args: str, nproc: int = 2, **cfg) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node N -m talkhead.stages.<stage> ... --cfg JSON`, as the rule runs it."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
           "-m", f"talkhead.stages.{stage}", *args, "--cfg", json.dumps({**CFG, **SHORT, "nproc": nproc, **cfg})]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


@pytest.fixture(scope="module")
def runs(one_thread, tmp_path_factory):
    """(metadata, 1-process folders, 2-process folders) of both phases."""
    root = tmp_path_factory.mktemp("ddp")
    metadata = _dataset(root / "data")
    single, double = root / "single", root / "double"
    train_phase(metadata, "lipsync", _cfg(**SHORT), single / "lipsync", None)
    train_phase(metadata, "expression", _cfg(**SHORT), single / "expression", single / "lipsync")
    torchrun("train_lipsync", "--metadata", str(metadata), "--out", str(double / "lipsync"))
    torchrun("train_expression", "--metadata", str(metadata), "--init", str(double / "lipsync"),
             "--out", str(double / "expression"))
    return metadata, single, double


def _assert_weights_close(a, b) -> None:
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=ATOL, rtol=1e-4, msg=key)


@pytest.mark.parametrize("phase", ["lipsync", "expression"])
def test_two_processes_train_what_one_process_trains(runs, phase):
    _, single, double = runs
    for name in ("best.safetensors", "last.safetensors"):
        _assert_weights_close(single / phase / name, double / phase / name)
    one, two = _rows(single / phase), _rows(double / phase)
    assert [r["epoch"] for r in two] == [r["epoch"] for r in one]
    for r1, r2 in zip(one, two):
        for key in r1:
            assert r2[key] == pytest.approx(r1[key], abs=1e-5), (key, r1, r2)
    cfg = json.loads((double / phase / "config.json").read_text())
    assert cfg["train"]["nproc"] == 2
    assert cfg["clips"] == json.loads((single / phase / "config.json").read_text())["clips"]


def test_interrupted_run_resumes_under_the_launcher(runs, tmp_path):
    metadata, _, double = runs
    out = tmp_path / "lipsync"
    torchrun("train_lipsync", "--metadata", str(metadata), "--out", str(out), epochs_lipsync=1)  # "interrupted"
    assert len(_rows(out)) == 1
    proc = torchrun("train_lipsync", "--metadata", str(metadata), "--out", str(out))
    assert "resumed after 1" in proc.stderr
    for name in OUTPUTS:  # the same bytes as the uninterrupted 2-process run
        assert (out / name).read_bytes() == (double / "lipsync" / name).read_bytes(), name


def test_shard_splits_a_global_batch_into_disjoint_equal_shares():
    batch = list(range(8))
    shares = [distributed.shard(batch, World(rank, 4)) for rank in range(4)]
    assert sum(shares, []) == batch and all(len(s) == 2 for s in shares)
    with pytest.raises(ValueError, match="does not split"):
        distributed.shard(list(range(6)), World(0, 4))


def test_a_world_of_one_needs_no_process_group(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    world, device = distributed.init("cpu")
    assert world == World() and world.main and not world.distributed and device == torch.device("cpu")
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap_model(model, "ddp", world, device) is model
    assert distributed.mean_over_ranks(1.5) == 1.5
    distributed.barrier()
    with pytest.raises(ValueError, match="unknown parallel strategy"):
        distributed.wrap_model(model, "zero", world, device)
