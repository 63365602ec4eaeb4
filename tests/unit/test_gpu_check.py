"""benchmarks/gpu_check.py runs here on the CPU (its CUDA-only parts skipped), so the script a GPU node runs in one
call is known to work before it gets there; the FSDP2 check also covers gather/scatter of the AdamW state with a
parameter that never had a gradient (DualForce's null audio embedding)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_gpu_check_runs_on_the_cpu(repo, tmp_path):
    out = tmp_path / "gpu_check.json"
    cmd = [sys.executable, str(repo / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--out", str(out),
           "--only", "environment", "dualforce_bf16", "fsdp_one_process", "batching"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    checks = json.loads(out.read_text())["checks"]
    assert checks["environment"]["status"] == "ok" and checks["environment"]["device"] == "cpu"
    assert checks["dualforce_bf16"]["status"] == "skipped"
    fsdp = checks["fsdp_one_process"]
    assert fsdp["status"] == "ok", fsdp
    assert fsdp["losses"]["fsdp"] == fsdp["losses"]["plain"]
    assert fsdp["max_weight_diff_vs_unsharded"] < 1e-5
    batching = checks["batching"]  # tiny models on the CPU: the batched paths agree with one item at a time
    assert batching["status"] == "ok", batching
    assert batching["retinaface_probes"]["max_score_diff"] < 1e-4
    assert batching["syncnet_windows"]["max_embedding_diff"] < 1e-4
    assert batching["hubert_clips"]["max_diff_over_scale"] < 2 ** -9
