"""Gaussian heads trained on one core: held-out quality (deterministic) and training time (on a shared machine).

    python benchmarks/gaussians_train.py [--runs demo,real,real_long] [--demo-workdir DIR] [--real-workdir DIR]
                                         [--out benchmarks/results/gaussians_train.json]

Runs (`--runs` picks; the file keeps the entries of runs not picked):
  demo       the test params' `gaussians` section (tests/fixtures/params.test.yaml: 64 px, 80 + 60 iterations) on
             the first train speaker of `make demo`'s dataset (params.yaml's `demo` section: 2 speakers × 2 clips
             of 3 s), after the pipeline's data phases with params.yaml (the video VAE, which the head does not
             read, at its smallest)
  real       video-retalking__face_2 with the real-data test's config (tests/realdata/pipeline_run.py
             GAUSSIANS_REAL: 128 px, 200 + 150 iterations, at most 1,500 Gaussians), after the test's data phases
             over every real fixture video (../shared/fixtures/real)
  real_long  the same clip, 300 + 300 iterations, densifying through the coarse stage, at most 4,000 Gaussians
             (~5 minutes of one core)
Each head is trained as the stage does (talkhead.gaussians.train.train) into a fresh folder, with one torch
thread and the process pinned to one core. Recorded per run: the head's metrics.json (held-out PSNR at the
start, after the coarse stage and at the end, SSIM, LMD of the audio-driven and of the static head, the
Gaussians, the frames), the wall and CPU time of the training call and the 1-minute load average before and
after it (the machine is shared: the wall time grows with the load; the quality numbers do not change).
A data-phase run is kept in --demo-workdir / --real-workdir and reused when finished (benchmarks/lipsync_sanity.py
makes the same real run). docs/gaussians.md's "Measured" table is generated from the file
(`python benchmarks/docs_numbers.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.realdata.pipeline_run: the real-data test's pipeline run and config
from tests.conftest import REAL  # noqa: E402
from tests.realdata.pipeline_run import GAUSSIANS_CLIP, ensure_data_phases, snakemake_targets  # noqa: E402

OUT = REPO / "benchmarks/results/gaussians_train.json"
LONG = {"coarse_iterations": 300, "fine_iterations": 300, "densify_until": 300, "max_gaussians": 4000}
RUNS = {
    "demo": {"label": "test params, demo speaker (64 px, 80 + 60 iterations)", "data": "demo", "override": {}},
    "real": {"label": f"real `{GAUSSIANS_CLIP.rsplit('/', 1)[-1][:-4]}`, 128 px, 200 + 150 iterations "
                      "(the real-data test)", "data": "real", "override": {}},
    "real_long": {"label": "same clip, 300 + 300 iterations", "data": "real", "override": LONG},
}


def ensure_demo(workdir: Path) -> dict:
    """`make demo`'s dataset through the pipeline's data phases in `workdir` (reused when finished), with the
    test params' `gaussians` section in its params.yaml; the run's wall time and load average."""
    facts = workdir / "data_phases.json"
    if (workdir / "data/dataset/metadata.parquet").is_file():
        print(f"reusing the demo run in {workdir}", file=sys.stderr)
        return {**(json.loads(facts.read_text()) if facts.is_file() else {}), "reused": True}
    from talkhead.config import DemoConfig
    from talkhead.demo import write_demo_dataset

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    manifest = write_demo_dataset(workdir / "demo", DemoConfig.from_dict(params["demo"]))
    params["dataset"]["manifest"] = str(manifest)
    params["video_vae"].update(size=32, levels=2, steps=20)  # video latents: the head reads none of them
    params["gaussians"].update(yaml.safe_load((REPO / "tests/fixtures/params.test.yaml").read_text())["gaussians"])
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    load, t0 = os.getloadavg()[0], time.perf_counter()
    snakemake_targets(workdir, "dataset")
    run = {"wall_s": round(time.perf_counter() - t0, 1), "load_average_1min": [round(load, 2),
                                                                                round(os.getloadavg()[0], 2)]}
    facts.write_text(json.dumps(run) + "\n")
    return {**run, "reused": False}


def train_run(name: str, workdir: Path, out: Path) -> dict:
    """One run: the workdir's `gaussians` config with the run's overrides, trained into `out` as the stage does."""
    from talkhead.config import section_config
    from talkhead.config_base import load_params
    from talkhead.gaussians.train import train

    cfg = section_config(load_params(workdir / "params.yaml"), "gaussians")
    cfg = dataclasses.replace(cfg, **RUNS[name]["override"])
    load, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    metrics = train(workdir / "data/dataset/metadata.parquet", workdir / "data/crop", cfg, out)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    entry = {"label": RUNS[name]["label"], "config": dataclasses.asdict(cfg), "metrics": metrics,
             "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
             "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)]}
    print(f"{name}: PSNR {metrics['psnr_init']:.2f} → {metrics['psnr_coarse']:.2f} → {metrics['psnr']:.2f} dB, "
          f"{metrics['gaussians']} Gaussians, {wall:.0f} s wall, {cpu:.0f} s CPU, load {entry['load_average_1min']}",
          file=sys.stderr)
    return entry


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--demo-workdir", type=Path, help="the demo's pipeline folder (reused when finished; kept)")
    parser.add_argument("--real-workdir", type=Path, help="the real clips' pipeline folder (reused; kept)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    runs = [r for r in args.runs.split(",") if r]
    unknown = set(runs) - set(RUNS)
    if unknown:
        raise SystemExit(f"unknown run(s) {sorted(unknown)} (known: {', '.join(RUNS)})")
    data = {RUNS[r]["data"] for r in runs}
    if "real" in data and not (REAL / "expected.csv").is_file():
        raise SystemExit(f"real fixtures not found at {REAL} (set TALKHEAD_REAL_FIXTURES)")
    result = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": {}}
    with tempfile.TemporaryDirectory(prefix="gaussians_train_") as tmp:
        workdirs = {"demo": args.demo_workdir or Path(tmp) / "demo_run",
                    "real": args.real_workdir or Path(tmp) / "real_run"}
        pipelines = {}
        for kind in sorted(data):  # the data phases on both cores, before this process is pinned to one
            workdirs[kind].mkdir(parents=True, exist_ok=True)
            pipelines[kind] = ensure_demo(workdirs[kind]) if kind == "demo" else ensure_data_phases(REAL,
                                                                                                  workdirs[kind])
        import torch

        torch.set_num_threads(1)
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        for name in runs:
            entry = train_run(name, workdirs[RUNS[name]["data"]], Path(tmp) / "heads" / name)
            result["runs"][name] = {**entry, "data_phases": pipelines[RUNS[name]["data"]]}
            result["runs"] = {k: result["runs"][k] for k in RUNS if k in result["runs"]}
            result.update(torch=torch.__version__, threads=1, pinned_cores=1,
                          machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
                          shared="the machine is shared with other work: wall times and load averages vary with "
                                 "it; the quality numbers are deterministic")
            args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
