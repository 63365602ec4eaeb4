"""The workflow at cluster scale: planning time and SLURM jobs for 10,000 to 1,000,000-clip manifests.

    python benchmarks/scale.py [--clips 10000 100000] [--project 1000000] [--out benchmarks/results/scale.json]

For each size, writes a manifest of N clips (local sources that do not exist: no media is needed;
a missing source is no rule input, common.smk `shard_sources`) into a temp project with the
project's params.yaml and dry-runs `snakemake -n all` through workflow/profiles/slurm. Two plans:

- fresh: nothing has run. Every per-shard job before and after the gate is planned (the gate's
  per-shard accepted lists are declared outputs of `qc`); only train_gaussians' default speaker
  waits for the qc checkpoint (common.smk `accepted`).
- after_gate: the pre-gate shard indices, the second A/V pass and every output of the gate exist,
  written here, accepting every clip (the layout a real run leaves: data/<phase>/_shards/<shard>.csv,
  data/qc/_shards/<shard>.csv, data/qc/train.csv, …), so the plan is the post-gate one.

Each plan is timed as the wall time of `-n --quiet rules` (Snakemake builds the whole DAG and
prints only its job table). SLURM jobs = the table's jobs of rules that run a command (aggregate
targets such as `all` or `features` run nothing and are never submitted). With --project, the
planning time of a larger manifest (unless it is measured too) is projected from the measured
sizes by a straight line (t = a + b · n: a fixed start-up and a cost per clip; the plan time grows
no slower than linearly, as Snakemake visits every job) and written as a projection.
Targets (issue 18): < 60 s for 100,000 clips fresh and after the gate, ≤ 1 job per 20 clips,
< 10 min for 1,000,000 clips.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm"
PRE_GATE = ("ingest", "normalize", "faces", "crop", "quality")
CLIPS_PER_JOB = 20  # the target: at most one scheduler job per 20 clips
DAG_TARGET_S = 60.0
PROJECTED_TARGET_S = 600.0
SLURM_ARGS = ["--slurm-no-account", "--slurm-status-command", "squeue"]

sys.path.insert(0, str(REPO / "src"))
from talkhead.data.shards import plan_shards  # noqa: E402

log = logging.getLogger("scale")


def write_project(root: Path, clips: int) -> tuple[list[str], dict]:
    """params.yaml (the project's, manifest pointed here) and an N-row manifest: (clip ids, params)."""
    speakers = max(1, clips // 100)
    ids = [f"s{i % speakers:04d}_c{i // speakers:05d}" for i in range(clips)]
    split = ["train"] * 8 + ["val", "test"]  # speaker-disjoint: a speaker's clips share its split
    rows = ["clip_id,source,start,end,speaker,split,emotion"]
    rows += [f"{c},media/{c}.mp4,0,5.0,spk{i % speakers:04d},{split[(i % speakers) % 10]},neutral"
             for i, c in enumerate(ids)]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dataset"]["manifest"] = str(root / "manifest.csv")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return ids, params


def fake_gate(root: Path, ids: list[str], shard_size: int) -> None:
    """Every output up to the gate in the sharded layout, each older than what reads it; every clip accepted."""
    t = time.time() - 3600
    os.utime(root / "manifest.csv", (t - 1, t - 1))
    shards = plan_shards(ids, shard_size)
    data = root / "data"

    def write(path: Path, text: str, age: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, (t + age, t + age))

    for k, phase in enumerate(PRE_GATE):
        for name, members in shards.items():
            write(data / phase / "_shards" / f"{name}.csv",
                  "clip,ok,reasons\n" + "".join(f"{c},1,\n" for c in members), k)
    write(data / "normalize" / "summary.csv", "clip,ok\n", 5)
    write(data / "av_corpus" / "offsets.csv", "clip\n", 6)
    write(data / "av_corpus" / "summary.json", "{}\n", 6)
    accepted = "clip,speaker,split,emotion,verdict\n" + "".join(f"{c},spk,train,neutral,accept\n" for c in ids)
    for name in ("accepted.csv", "measures.csv"):
        write(data / "qc" / name, accepted, 7)
    for name in ("rejected.csv", "segments.csv"):
        write(data / "qc" / name, "clip\n", 7)
    write(data / "qc" / "train.csv", "clip,split\n" + "".join(f"{c},train\n" for c in ids), 7)
    for name, members in shards.items():
        write(data / "qc" / "_shards" / f"{name}.csv", "clip,ok,reasons,speaker,split,emotion\n"
              + "".join(f"{c},1,,spk,train,neutral\n" for c in members), 7)
    write(data / "qc" / "report" / "index.html", "<html></html>\n", 7)
    os.utime(data / "qc" / "report", (t + 7, t + 7))


def dry_run(root: Path, *extra: str) -> tuple[float, str]:
    """`snakemake -n all` in `root` via the slurm profile: (seconds, output)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(root),
           "--profile", str(PROFILE), *SLURM_ARGS, "-n", *extra, "all"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.monotonic() - t0, proc.stdout + proc.stderr


def job_table(text: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table: rule → jobs."""
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    return {rule: int(n) for rule, n in (line.split() for line in table) if rule != "total"}


def command_rules() -> set[str]:
    """The rules that run a command (shell/run/script) and are not `localrules`: each of their jobs is one SLURM job."""
    text = "".join(p.read_text() for p in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")])
    blocks = re.findall(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^(?:rule|checkpoint) |\Z)", text, flags=re.M | re.S)
    local = {name for line in re.findall(r"^localrules:(.*)$", text, flags=re.M) for name in re.findall(r"\w+", line)}
    return {name for name, body in blocks if re.search(r"^    (shell|run|script):", body, flags=re.M)} - local


def measure(root: Path, clips: int, label: str) -> dict:
    """Planning time and the SLURM jobs of one dry run."""
    seconds, text = dry_run(root, "--quiet", "rules")
    jobs = job_table(text)
    submitted = {r: n for r, n in jobs.items() if r in command_rules()}
    per_shard = {r: n for r, n in submitted.items() if r.endswith("_shard")}
    result = {
        "plan_seconds": round(seconds, 2),
        "rule_jobs": sum(jobs.values()),
        "slurm_jobs": sum(submitted.values()),
        "per_shard_jobs": sum(per_shard.values()),
        "clips_per_slurm_job": round(clips / max(1, sum(submitted.values())), 1),
        "jobs_by_rule": jobs,
        "meets_plan_target": seconds < DAG_TARGET_S,
        "meets_jobs_target": sum(submitted.values()) * CLIPS_PER_JOB <= clips,
    }
    log.info("%s: planned in %.1f s; %d SLURM jobs (%d per-shard), %.1f clips per job", label, seconds,
             result["slurm_jobs"], result["per_shard_jobs"], result["clips_per_slurm_job"])
    return result


def linear_fit(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """(a, b) of t = a + b · n, least squares: a fixed start-up and a cost per clip."""
    mx, my = sum(sizes) / len(sizes), sum(seconds) / len(seconds)
    b = sum((x - mx) * (y - my) for x, y in zip(sizes, seconds)) / sum((x - mx) ** 2 for x in sizes)
    return my - b * mx, b


def main(argv: list[str] | None = None) -> int:
    """Plan every size fresh and after the gate, project the largest, write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--project", type=int, default=1_000_000,
                        help="project the planning time of this size (skipped when it is measured)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scale.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    by_size = {}
    for n in args.clips:
        with tempfile.TemporaryDirectory(prefix="talkhead-scale-") as tmp:
            root = Path(tmp)
            ids, params = write_project(root, n)
            fresh = measure(root, n, f"fresh, {n} clips")
            fake_gate(root, ids, params["dataset"]["shard_size"])
            after = measure(root, n, f"after the gate, {n} clips")
        by_size[str(n)] = {"clips": n, "shard_size": params["dataset"]["shard_size"], "fresh": fresh,
                           "after_gate": after}
    projection = {}
    if len(args.clips) >= 2 and args.project and args.project not in args.clips:
        for plan in ("fresh", "after_gate"):
            a, b = linear_fit(args.clips, [by_size[str(n)][plan]["plan_seconds"] for n in args.clips])
            t = a + b * args.project
            projection[plan] = {"clips": args.project, "plan_seconds": round(t, 1), "fixed_s": round(a, 2),
                                "ms_per_clip": round(1000 * b, 4), "meets_target": t < PROJECTED_TARGET_S}
        log.info("projected for %d clips: %s", args.project,
                 ", ".join(f"{k} {v['plan_seconds']} s ({v['ms_per_clip']} ms per clip)"
                           for k, v in projection.items()))
    snakemake_version = subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True,
                                       text=True).stdout.strip()
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "snakemake": snakemake_version,
        "profile": "workflow/profiles/slurm",
        "method": "dry runs (-n) of `all` with the project's params.yaml; plan time = wall time of `-n --quiet rules`; "
                  "SLURM jobs = jobs of rules that run a command; fresh = nothing run; after_gate = every pre-gate "
                  "shard index and the gate's outputs written beforehand (all clips accepted); projection = power-law "
                  "linear fit of the measured plan times (a projection, not a measurement)",
        "targets": {"plan_seconds_below": DAG_TARGET_S, "clips_per_slurm_job_at_least": CLIPS_PER_JOB,
                    "projected_plan_seconds_below": PROJECTED_TARGET_S},
        "by_clips": by_size,
        "projection": projection,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    log.info("→ %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
