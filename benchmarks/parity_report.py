"""How close talkhead's metrics are to their reference implementations: the parity tests' differences, measured.

    python benchmarks/parity_report.py [--out benchmarks/results/parity.json]

Runs the comparisons of the parity tests (tests/parity/compare.py, which tests/unit/eval/test_*parity*.py
assert on) on the committed fixtures of tests/fixtures/parity/ (the references' outputs, written by
benchmarks/parity/*.py outside the project) with one torch thread, and writes every compared quantity's
max abs and max relative difference (each as its test measures it), the values that must be equal, the
torch version and thread count. docs/evaluation.md's parity table is generated from the file
(`python benchmarks/docs_numbers.py`). Exits 1 when a comparison fails its test's tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.parity.compare: the tests' comparisons
from tests.parity import compare  # noqa: E402

OUT = REPO / "benchmarks/results/parity.json"


def _plain(value):
    """A JSON value from numpy scalars / lists."""
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else value


def entry(parity: compare.Parity) -> dict:
    """One comparison in the file: facts, each pair's differences, the equal values, the failures."""
    return {**{k: _plain(v) for k, v in parity.facts.items()},
            "compared": {k: {"max_abs": p.max_abs, "max_rel": p.max_rel, "relative": p.relative.__name__}
                         for k, p in parity.pairs.items()},
            "equal": {k: [_plain(a), _plain(b)] for k, (a, b) in parity.equal.items()},
            "failures": parity.failures()}


def measure() -> dict:
    """test name → its comparisons (test_mfcc_parity: one per signal under `cases`)."""
    mfcc = {name: entry(compare.mfcc(ours, ref)) for name, (ours, ref) in compare.mfcc_cases().items()}
    mfcc["syncnet_fixture"] = entry(compare.mfcc_fixture())
    if "speech" in mfcc:
        mfcc["speech"]["seconds"] = mfcc["speech"]["samples"] / 16000
    return {"test_syncnet_pipeline_parity": entry(compare.syncnet_pipeline()),
            "test_syncnet_offset_sign_parity": entry(compare.syncnet_offset_sign()),
            "test_mfcc_parity": {"reference": f"python_speech_features {version('python_speech_features')}",
                                 "cases": mfcc, "failures": [f"{k}: {f}" for k, c in mfcc.items()
                                                             for f in c["failures"]]},
            "test_fvd_styleganv_parity": entry(compare.fvd("styleganv")),
            "test_fvd_latentsync_parity": entry(compare.fvd("latentsync")),
            "test_fid_parity": entry(compare.fid())}


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # as the fixtures were made
    tests = measure()
    failed = {name: t["failures"] for name, t in tests.items() if t["failures"]}
    result = {"what": "max abs / max rel differences between talkhead and the reference implementations on the "
                      "parity fixtures (benchmarks/parity_report.py; tests/parity/compare.py)",
              "torch": torch.__version__, "threads": torch.get_num_threads(), "rtol": compare.RTOL,
              "passed": not failed, "tests": tests}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}" + "".join(f"\n  {name} FAILED: {f}" for name, f in failed.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
