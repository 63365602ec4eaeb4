"""The metrics of a `make demo` run, in one committed file: what docs quote about the demo's models.

    python benchmarks/demo_eval.py [--data data] [--out benchmarks/results/demo_eval.json]

Collects every trained model's metrics.json (data/models/…) and every evaluation's (data/eval/…,
data/export/v3face/export.json) as they are, with the commit and the date of the run. The model-quality
tables of docs/*.md are generated from this file (benchmarks/docs_numbers.py), so each quoted number
names the run that produced it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = {  # key in the results -> metrics file under the data folder
    "v3face_lipsync": "models/v3face/lipsync/metrics.json",
    "v3face_expression": "models/v3face/expression/metrics.json",
    "motion_dit": "models/motion_dit/metrics.json",
    "dualforce": "models/dualforce/metrics.json",
    "syncnet_selftrained": "models/syncnet/metrics.json",
    "gaussians": "models/gaussians/metrics.json",
    "export_v3face": "export/v3face/export.json",
    "eval_v3face": "eval/v3face/metrics.json",
    "eval_motion_dit": "eval/motion_dit/metrics.json",
    "eval_dualforce": "eval/dualforce/metrics.json",
    "microalbert": "models/microalbert/metrics.json",
    "export_microalbert": "export/microalbert/export.json",
    "eval_microalbert": "eval/microalbert/metrics.json",
    "eval_microalbert_latency": "eval/microalbert/latency.json",
}


def collect(data: Path) -> dict:
    """{key: the metrics file's content} of every source present; the absent ones listed."""
    found, absent = {}, []
    for key, rel in SOURCES.items():
        path = data / rel
        if path.is_file():
            found[key] = json.loads(path.read_text(encoding="utf-8"))
        else:
            absent.append(rel)
    return {"metrics": found, "absent": absent}


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/demo_eval.json")
    args = parser.parse_args(argv)
    result = collect(args.data)
    if not result["metrics"]:
        print(f"{args.data}: no model or evaluation metrics (run make demo first)", file=sys.stderr)
        return 1
    commit = subprocess.run(["git", "-C", str(args.data), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # the checkout that ran the pipeline
    result |= {"run": {"commit": commit, "date": datetime.date.today().isoformat(),
                       "machine": f"{platform.machine()}, Python {platform.python_version()}"}}
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(result['metrics'])} metrics files → {args.out}" + (f"; absent: {result['absent']}"
                                                                      if result["absent"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
