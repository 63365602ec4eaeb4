"""How far float16 / bfloat16 HuBERT features are from float32 ones on this machine's CPU kernels.

    python benchmarks/hubert_precision.py [--threads 1] [--out benchmarks/results/hubert_precision.json]

The measurement of tests/unit/features/test_hubert.py (tests/unit/features/tiny_hubert.py: its tiny random
HuBERT on 3 s of speech-like audio, error against float32): for bfloat16 and float16, once with oneDNN's
default kernels and once with `ONEDNN_MAX_CPU_ISA=AVX512_CORE` (no AMX), each in a child process (oneDNN
reads the variable once per process). bfloat16 is forced into autocast although talkhead computes it in
float32 on CPU (talkhead.features.precision): these numbers are why. The entry for this CPU model (from
/proc/cpuinfo) is replaced in the results file; other CPU models' entries are kept, so running this on
another machine adds its rows to docs/features.md's table (`python benchmarks/docs_numbers.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.unit.features.tiny_hubert: the test's model and measurement
from tests.unit.features.tiny_hubert import SECONDS, in_child, save_tiny  # noqa: E402

OUT = REPO / "benchmarks/results/hubert_precision.json"
DTYPES = ("bfloat16", "float16")
KERNELS = {"default": None, "AVX512_CORE": "AVX512_CORE"}  # name → ONEDNN_MAX_CPU_ISA


def cpu() -> dict:
    """The CPU's model name and the instruction sets that pick oneDNN's bf16 / fp16 kernels."""
    info = {}
    try:  # the first processor's block
        for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except OSError:
        pass
    model = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    return {"cpu_model": model, "amx_bf16": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "avx512_fp16": "avx512_fp16" in flags}


def measure(threads: int) -> dict:
    """This machine's entry: the CPU, torch, threads and the error per dtype and kernel family."""
    with tempfile.TemporaryDirectory(prefix="hubert_precision_") as tmp:
        ckpt = save_tiny(Path(tmp) / "hubert")
        cases = [{"dtype": dtype, "kernels": name, **in_child(ckpt, dtype, force=True, isa=isa, threads=threads)}
                 for dtype in DTYPES for name, isa in KERNELS.items()]
    for c in cases:
        print(f"{c['dtype']:>8} {c['kernels']:>11}: max abs {c['max_abs']:.4g}, mean abs {c['mean_abs']:.4g}, "
              f"max / largest {c['max_rel']:.3g}, r {c['r']:.6f}", file=sys.stderr)
    return {**cpu(), "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__,
            "threads": threads, "audio_s": SECONDS, "cases": cases}


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads in each measurement (default 1)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    entry = measure(args.threads)
    results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    results["what"] = ("error of float16 / bfloat16 autocast HuBERT features against float32 on CPU, per CPU model "
                       "(benchmarks/hubert_precision.py; the test model of tests/unit/features/test_hubert.py)")
    results.setdefault("machines", {})[entry["cpu_model"]] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({entry['cpu_model']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
