"""Running Snakemake and DVC from tests: the venv's own interpreter, a temp working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a command with the venv's bin first on PATH; fail with its output if it fails."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """`snakemake` on the repo's Snakefile in `workdir` (which holds params.yaml)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    return run(cmd, cwd=workdir, timeout=timeout)


def write_params(workdir: Path, manifest: Path, **sections: dict) -> Path:
    """The test params file (tests/fixtures/params.test.yaml) with the manifest and overrides set."""
    params = yaml.safe_load((REPO / "tests" / "fixtures" / "params.test.yaml").read_text())
    params["dataset"]["manifest"] = str(manifest)
    for name, values in sections.items():
        params.setdefault(name, {}).update(values)
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path
