"""The pipeline on a real one-node SLURM through workflow/profiles/slurm: same bytes as a local run.

The session fixture installs Debian's slurm-wlm + munge if needed (root only; otherwise the tests
skip and say why), starts munged/slurmctld/slurmd from a temp slurm.conf and stops exactly those
daemons at the end. The run goes up to the `dataset` target (ingest → qc checkpoint → features →
packed dataset), one SLURM job per shard and per-shard phase, before and after the gate, after a
first run whose ingest shard job SIGKILLs itself mid-shard (only its unfinished clips are redone);
V3 Face training is left out (minutes on 2 cores, and it runs the same command under SLURM as locally).
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from talkhead.stages.shard import DONE_FILE, KILL_AFTER_ENV

from .helpers import REPO, snakemake, write_params
from .slurm_cluster import ClusterUnavailable, SlurmCluster, start_cluster

pytestmark = pytest.mark.workflow

TARGET = "dataset"
PRE_GATE = ("ingest", "normalize", "faces", "crop", "quality")
POST_GATE = ("features", "learned", "pack")
SHARD_RULES = {f"{p}_shard" for p in PRE_GATE + POST_GATE}
PROFILE = REPO / "workflow" / "profiles" / "slurm"
# No accounting database here: `squeue` reports job states (sacct would never see the jobs end).
SLURM_ARGS = ("--slurm-no-account", "--slurm-status-command", "squeue",
              "--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs")
# Deterministic outputs compared byte for byte (GE reports and logs carry times; qc/report is HTML).
COMPARED = ("data/qc/accepted.csv", "data/qc/rejected.csv", "data/qc/measures.csv", "data/qc/segments.csv",
            "data/features", "data/models/face3dmm_basis", "data/models/video_vae",
            "data/dataset/clips", "data/dataset/metadata.parquet", "data/dataset/motion_stats.safetensors")


@pytest.fixture(scope="session")
def slurm(tmp_path_factory) -> Iterator[SlurmCluster]:
    """A running one-node SLURM for the session, or a skip that prints why."""
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    except ClusterUnavailable as exc:
        print(f"SKIP test_slurm: {exc}", file=sys.stderr)
        pytest.skip(str(exc))
    yield cluster
    cluster.stop()


def _digests(workdir: Path) -> dict[str, str]:
    """sha256 of every compared file, by path relative to `workdir`."""
    out = {}
    for name in COMPARED:
        path = workdir / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        out |= {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    return out


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, demo_dataset) -> Path:
    """The reference: the same target on this machine with the one-machine profile."""
    wd = tmp_path_factory.mktemp("local")
    write_params(wd, demo_dataset)
    snakemake(wd, "--profile", str(REPO / "workflow/profiles/default"), "--cores", "2", TARGET, timeout=900)
    return wd


def test_resources_live_in_the_rules_and_grow_with_the_attempt():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    # One source of truth: no per-rule resources, threads or job groups in the profile.
    assert not {"set-resources", "set-threads", "groups", "group-components"} & set(profile)
    text = "".join(p.read_text() for p in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")])
    assert "group:" not in text and "parent_groupids" not in text
    blocks = dict(re.findall(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^(?:rule|checkpoint) |\Z)", text,
                             flags=re.M | re.S))
    assert SHARD_RULES <= set(blocks)
    for rule, body in blocks.items():
        if "shell:" not in body:  # an aggregate target (rule all, rule features …) runs nothing
            continue
        mem = re.search(r"mem_mb=(\w+)\(", body)
        runtime = re.search(r"runtime=(\w+)\(", body)
        assert mem and mem.group(1) == "scaled", rule  # × attempt (common.smk)
        assert runtime and runtime.group(1) in ("minutes", "shard_minutes"), rule
    for rule, res in profile.get("set-resources", {}).items():
        assert "gres" not in res, rule  # GPU rules ask with `gpu` in the rule itself, never also gres
        assert "attempt" in str(res["mem_mb"]) and "attempt" in str(res["runtime"]), rule


def test_dry_run_plans_one_job_per_shard_and_grows_resources_with_attempt(tmp_path, demo_dataset, slurm, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    write_params(tmp_path, demo_dataset)
    out = snakemake(tmp_path, "--profile", str(PROFILE), *SLURM_ARGS, "-n", TARGET)
    text = out.stdout + out.stderr
    for rule in SHARD_RULES:  # the 3 demo clips are one shard: one scheduler job per phase, before and after the gate
        assert len(re.findall(rf"^rule {rule}:$", text, flags=re.M)) == 1, (rule, text[-3000:])
    assert "mem_mb=3000" in text  # faces_shard's 3000 × attempt on attempt 1


@pytest.mark.timeout(1800)  # on 2 busy cores: ~1 min locally, ~5 min through SLURM (the executor polls)
def test_pipeline_on_slurm_matches_local_run(tmp_path, demo_dataset, slurm, local_run, monkeypatch):
    """Through SLURM, after a shard job killed mid-shard and a rerun: the bytes of a local run."""
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    wd = tmp_path / "wd"
    wd.mkdir()
    write_params(wd, demo_dataset)
    command = ("--profile", str(PROFILE), *SLURM_ARGS, "--cores", str(slurm.cpus), "--latency-wait", "5", TARGET)
    # First a run whose ingest shard job SIGKILLs itself after its first clip (the job fails on SLURM; no
    # retries here, or each retry would finish one more clip before its own kill) …
    monkeypatch.setenv(KILL_AFTER_ENV, "1")
    with pytest.raises(AssertionError, match="failed"):
        snakemake(wd, *command, "--retries", "0", timeout=600)
    monkeypatch.delenv(KILL_AFTER_ENV)
    finished = {p.parent.name: p.stat().st_mtime_ns for p in (wd / "data" / "ingest").glob(f"*/{DONE_FILE}")}
    assert len(finished) == 1, finished
    assert not list((wd / "data" / "ingest" / "_shards").glob("*.csv"))  # the killed job's index is not there
    # … then the run that finishes it: the clip done before the kill is not redone, the bytes equal a local run.
    try:
        snakemake(wd, *command, timeout=1200)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{slurm.log_tails()}\nsinfo: {slurm.sinfo()}") from None
    assert {c: (wd / "data" / "ingest" / c / DONE_FILE).stat().st_mtime_ns for c in finished} == finished
    base = wd / ".snakemake" / "slurm_logs"
    logs = [p.relative_to(base).parts[0] for p in base.rglob("*.log")]
    for rule in SHARD_RULES:  # one job per shard and phase (ingest: the killed one and its rerun)
        assert logs.count(f"rule_{rule}") == (2 if rule == "ingest_shard" else 1), sorted(logs)
    assert not any(name.startswith("group_") for name in logs), sorted(logs)
    reference, ours = _digests(local_run), _digests(wd)
    assert any(k.endswith("metadata.parquet") for k in reference) and any("/features/" in k for k in reference)
    assert ours.keys() == reference.keys(), sorted(set(ours) ^ set(reference))
    assert [k for k in reference if ours[k] != reference[k]] == []
