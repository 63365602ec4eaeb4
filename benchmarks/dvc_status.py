"""DVC at cluster scale: `dvc commit` and `dvc status` on a data/ tree of 10,000 clips.

    python benchmarks/dvc_status.py [--clips 10000] [--layout data] [--out benchmarks/results/dvc_status.json]

The tree copies the layout of a finished run (`--layout`, the data/ folder `make demo` leaves): every
file of one clip (`data/<phase>/<clip>/…`, `data/dataset/clips/<clip>.safetensors`, hidden markers
included) is written for each of N clip ids, every per-shard file (`…/shard00000…`) for each of
N / 25 shards, every other file once. The files are empty (DVC's cost is one stat and one state
lookup per file; the hashing of real bytes is the same whatever the layout). The project's
dvc.yaml, params.yaml, .dvcignore, .dvc/config, workflow/ and src/ are copied beside it, in a
fresh git repository.

Timed, each a new process as a user would run it:
- `dvc commit --force` (what `make demo` runs after Snakemake: hash every output, fill the cache,
  write dvc.lock);
- `dvc status` twice (nothing changed: the answer must be "up to date");
- `dvc status` after one clip's file changed (the stage that owns it, and its dependents, must be
  reported).
Target (issue 25): `dvc status` under 30 s at 10,000 clips.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIPS_PER_SHARD = 25
STATUS_TARGET_S = 30.0
SHARD = re.compile(r"shard\d{5}")

log = logging.getLogger("dvc_status")


def layout(data: Path) -> tuple[str, list[str], list[str], list[str]]:
    """(template clip id, per-clip paths with {clip}, per-shard paths with {shard}, other paths) of a run's data/."""
    manifest = data / "demo" / "manifest.csv"
    if not manifest.is_file():
        raise SystemExit(f"{data} is not a finished demo run (no {manifest}); run `make demo` first")
    with manifest.open() as f:
        clip = next(csv.DictReader(f))["clip_id"]
    per_clip, per_shard, other = [], [], []
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        rel = path.relative_to(data.parent).as_posix()
        if rel.startswith(("data/demo/", "data/manifests/")) or rel == "data/README.md":
            continue
        if clip in rel:
            per_clip.append(rel.replace(clip, "{clip}"))
        elif SHARD.search(rel):
            per_shard.append(SHARD.sub("{shard}", rel))
        elif not re.search(r"demo_s\d+_c\d+|demo_noface|demo_silent", rel):  # the template clip stands for these
            other.append(rel)
    return clip, per_clip, per_shard, other


def write_project(root: Path, clips: int, data: Path, paths: tuple[list[str], list[str], list[str]]) -> int:
    """The project's DVC files and code, and the placeholder tree of `paths` (per clip, per shard, once)
    for `clips` clips; returns the number of data files."""
    for rel in ("dvc.yaml", "params.yaml", ".dvcignore", "Snakefile"):
        shutil.copy2(REPO / rel, root / rel)
    for rel in ("workflow", "src/talkhead"):
        shutil.copytree(REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / ".dvc").mkdir()
    shutil.copy2(REPO / ".dvc" / "config", root / ".dvc" / "config")
    (root / "data" / "demo").mkdir(parents=True)
    shutil.copy2(data / "demo" / "manifest.csv", root / "data" / "demo" / "manifest.csv")
    per_clip, per_shard, other = paths
    dirs: set[Path] = set()
    count = 0

    def touch(rel: str) -> None:
        nonlocal count
        path = root / rel
        if path.parent not in dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            dirs.add(path.parent)
        path.touch()
        count += 1

    for i in range(clips):
        for rel in per_clip:
            touch(rel.format(clip=f"c{i:06d}"))
    for s in range(-(-clips // CLIPS_PER_SHARD)):
        for rel in per_shard:
            touch(rel.format(shard=f"shard{s:05d}"))
    for rel in other:
        touch(rel)
    return count


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds, proc.stdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=10_000)
    ap.add_argument("--layout", type=Path, default=REPO / "data", help="a finished run's data/ folder")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "dvc_status.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    dvc = str(Path(sys.executable).parent / "dvc")
    clip, per_clip, per_shard, other = layout(args.layout)
    with tempfile.TemporaryDirectory(prefix="dvc_status_") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        files = write_project(root, args.clips, args.layout, (per_clip, per_shard, other))
        log.info("%d placeholder files for %d clips in %.0f s", files, args.clips, time.perf_counter() - start)
        commit_s, _ = timed([dvc, "commit", "--force", "--quiet"], root)
        log.info("dvc commit --force: %.1f s", commit_s)
        status_s = []
        for _ in range(2):
            seconds, out = timed([dvc, "status"], root)
            if "up to date" not in out.lower():
                raise RuntimeError(f"dvc status after the commit is not clean:\n{out[:2000]}")
            status_s.append(seconds)
            log.info("dvc status (clean): %.1f s", seconds)
        changed = root / per_clip[0].format(clip="c000000")
        changed.write_text("changed\n")
        changed_s, out = timed([dvc, "status"], root)
        phase = changed.relative_to(root).parts[1]
        if f"data/{phase}" not in out:
            raise RuntimeError(f"dvc status did not report the changed file's stage ({phase}):\n{out[:2000]}")
        log.info("dvc status (one file changed in data/%s): %.1f s", phase, changed_s)
    result = {
        "clips": args.clips,
        "files": files,
        "files_per_clip": len(per_clip),
        "files_per_shard": len(per_shard),
        "clips_per_shard": CLIPS_PER_SHARD,
        "layout_from": f"{args.layout} (clip {clip})",
        "dvc_commit_s": round(commit_s, 1),
        "dvc_status_clean_s": [round(s, 1) for s in status_s],
        "dvc_status_one_changed_s": round(changed_s, 1),
        "target_status_s": STATUS_TARGET_S,
        "meets_target": max(status_s) < STATUS_TARGET_S,
        "dvc": subprocess.run([dvc, "--version"], capture_output=True, text=True).stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
