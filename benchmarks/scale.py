"""The workflow at cluster scale: DAG construction time and SLURM jobs for a 10,000-clip manifest.

    python benchmarks/scale.py [--clips 10000] [--after-qc-clips 200] [--out benchmarks/results/scale.json]

Writes a manifest of N clips (local sources that do not exist: no media is needed, a missing
local source is no rule input, see common.smk `local_source`) into a temp project and dry-runs
`snakemake -n all` through workflow/profiles/slurm (its job groups). Two DAGs are measured:

- fresh: nothing has run. The qc checkpoint has not run either, so the DAG ends at the quality
  gate (ingest → normalize → faces → crop → quality, qc); the rules after it appear only once
  it ran.
- after_qc: every pre-gate folder and the gate's outputs exist (empty folders and a written
  data/qc/accepted.csv that accepts every clip), so the DAG holds the feature, pack, dataset
  and training rules. Measured on a smaller manifest (--after-qc-clips): with job groups on rules
  downstream of the learned models (clip_pack, clip_gpu), Snakemake 9.27's group check
  (DAG._check_groups: a depth-first search of every group member's whole upstream, repeated for
  every member of the group) grows quadratically, so the 10,000-clip after-gate DAG does not finish in
  reasonable time; the figures at two sizes show the growth.

For each: the wall time of the dry run with `--quiet` (DAG construction; Snakemake prints only the
job table) and, from a second, verbose dry run, the scheduler jobs: every `Group job <name>` line
is one SLURM job (its members run inside it), and every job of a rule that is in no group and
has a command is one SLURM job. Targets (issue 7): DAG < 60 s; ≤ 1 SLURM job per 50 clips for
each batch of per-clip rules.
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
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm"
PRE_GATE = ("ingest", "normalize", "faces", "crop", "quality")
CLIPS_PER_JOB = 50  # the target: ≤ 1 scheduler job per 50 clips
DAG_TARGET_S = 60.0
SLURM_ARGS = ["--slurm-no-account", "--slurm-status-command", "squeue"]

log = logging.getLogger("scale")


def write_project(root: Path, clips: int) -> list[str]:
    """params.yaml (the project's, manifest pointed here) and an N-row manifest; the clip ids."""
    speakers = max(1, clips // 100)
    ids = [f"s{i % speakers:04d}_c{i // speakers:05d}" for i in range(clips)]
    rows = ["clip_id,source,start,end,speaker,split,emotion"]
    split = ["train"] * 8 + ["val", "test"]  # speaker-disjoint: a speaker's clips share its split
    rows += [f"{c},media/{c}.mp4,0,5.0,spk{i % speakers:04d},{split[(i % speakers) % 10]},neutral"
             for i, c in enumerate(ids)]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dataset"]["manifest"] = str(root / "manifest.csv")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return ids


def fake_gate(root: Path, ids: list[str]) -> None:
    """Every pre-gate clip folder (empty, older than its successor) and the gate's outputs, accepting all."""
    t = time.time() - 3600
    os.utime(root / "manifest.csv", (t - 1, t - 1))  # the gate's inputs are older than its outputs
    for k, phase in enumerate(PRE_GATE):
        for c in ids:
            folder = root / "data" / phase / c
            folder.mkdir(parents=True, exist_ok=True)
            os.utime(folder, (t + k, t + k))
    qc = root / "data" / "qc"
    (qc / "report").mkdir(parents=True, exist_ok=True)
    (qc / "accepted.csv").write_text("clip\n" + "".join(f"{c}\n" for c in ids))
    for name in ("rejected.csv", "measures.csv", "segments.csv"):
        (qc / name).write_text("clip\n")
    for path in qc.iterdir():
        os.utime(path, (t + 10, t + 10))


def dry_run(root: Path, *extra: str, stream: bool = False, profile: bool = True) -> tuple[float, str | Counter]:
    """`snakemake -n all` in `root` via the slurm profile (or none): (seconds, output or per-job counts)."""
    how = ["--profile", str(PROFILE), *SLURM_ARGS] if profile else ["--cores", "1"]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(root),
           *how, "-n", *extra, "all"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    t0 = time.monotonic()
    if not stream:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return time.monotonic() - t0, proc.stdout + proc.stderr
    counts: Counter = Counter()
    group = re.compile(r"Group job (\S+)")
    rule = re.compile(r"^(\s*)(?:localrule|rule|checkpoint) (\w+):")
    in_group = False
    with subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        for line in p.stdout:  # a group's member jobs are indented; a top-level rule ends the group
            if m := group.search(line):
                counts[f"group:{m.group(1)}"] += 1
                in_group = True
            elif m := rule.match(line):
                if not m.group(1):
                    in_group = False
                counts[f"{'member' if in_group else 'job'}:{m.group(2)}"] += 1
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode})")
    return time.monotonic() - t0, counts


def job_table(text: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table: rule → jobs."""
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    return {rule: int(n) for rule, n in (line.split() for line in table) if rule != "total"}


def measure(root: Path, clips: int, label: str) -> dict:
    """DAG time (with the slurm profile, and without: no job groups), rule jobs and SLURM jobs of one dry run."""
    plain_seconds, _ = dry_run(root, "--quiet", "rules", profile=False)
    seconds, text = dry_run(root, "--quiet", "rules")
    jobs = job_table(text)
    _, counts = dry_run(root, stream=True)
    groups = {k.split(":", 1)[1]: n for k, n in counts.items() if k.startswith("group:")}
    ungrouped = {k.split(":", 1)[1]: n for k, n in counts.items() if k.startswith("job:") and k != "job:all"}
    per_clip = {r: n for r, n in jobs.items() if r.endswith("_clip")}
    ungrouped_clip = {r: n for r, n in ungrouped.items() if r.endswith("_clip")}
    slurm_jobs = sum(groups.values()) + sum(ungrouped.values())
    clip_jobs = sum(groups.values()) + sum(ungrouped_clip.values())
    batches = Counter()
    for g, n in groups.items():
        batches[g.rsplit("_", 1)[0]] += n
    worst = max([n / clips for n in batches.values()] + [n / clips for n in ungrouped_clip.values()] or [0])
    result = {
        "dag_seconds": round(seconds, 2),
        "dag_seconds_without_profile": round(plain_seconds, 2),
        "rule_jobs": sum(jobs.values()),
        "per_clip_rule_jobs": sum(per_clip.values()),
        "jobs_by_rule": jobs,
        "slurm_jobs": slurm_jobs,
        "slurm_jobs_per_clip_batches": clip_jobs,
        "group_jobs_by_batch": dict(sorted(batches.items())),
        "ungrouped_slurm_jobs": ungrouped,
        "clips_per_group_job": {b: round(clips / n, 1) for b, n in sorted(batches.items())},
        "max_slurm_jobs_per_50_clips_per_batch": round(worst * CLIPS_PER_JOB, 3),
        "meets_dag_target": seconds < DAG_TARGET_S,
        "meets_grouping_target": worst * CLIPS_PER_JOB <= 1.0 and not ungrouped_clip,
    }
    log.info("%s: DAG %.1f s (%.1f s without the profile), %d rule jobs → %d SLURM jobs (%s)", label, seconds,
             plain_seconds, result["rule_jobs"], slurm_jobs, ", ".join(f"{b}: {n}" for b, n in sorted(batches.items())))
    return result


def main(argv: list[str] | None = None) -> int:
    """Run both dry runs and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--after-qc-clips", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scale.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with tempfile.TemporaryDirectory(prefix="talkhead-scale-") as tmp:
        root = Path(tmp)
        t0 = time.monotonic()
        write_project(root, args.clips)
        log.info("manifest of %d clips written in %.1f s", args.clips, time.monotonic() - t0)
        fresh = measure(root, args.clips, f"fresh, {args.clips} clips (up to the qc checkpoint)")
    after = {}
    for n in args.after_qc_clips:
        with tempfile.TemporaryDirectory(prefix="talkhead-scale-") as tmp:
            root = Path(tmp)
            fake_gate(root, write_project(root, n))
            after[str(n)] = {"clips": n, **measure(root, n, f"after qc, {n} clips (features, pack, dataset, training)")}
    snakemake_version = subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True,
                                       text=True).stdout.strip()
    results = {
        "clips": args.clips,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "snakemake": snakemake_version,
        "profile": "workflow/profiles/slurm",
        "method": "dry runs (-n) of `all`; DAG time = wall time of `-n --quiet rules` (with the slurm profile, and "
                  "without any profile: no job groups); SLURM jobs = 'Group job' lines + jobs of ungrouped rules "
                  "with a command in the verbose dry run; fresh = nothing run (the DAG ends at the qc checkpoint), "
                  "after_qc = pre-gate folders and data/qc/accepted.csv written beforehand (all clips accepted)",
        "targets": {"dag_seconds_below": DAG_TARGET_S, "slurm_jobs_per_50_clips_per_batch_at_most": 1},
        "fresh": fresh,
        "after_qc_by_clips": after,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    log.info("→ %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
