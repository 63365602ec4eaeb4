"""Running Snakemake and DVC from tests: the venv's own interpreter, a temp working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APT_TIMEOUT_S = 900


class Unavailable(RuntimeError):
    """A system package a test needs cannot be installed here (not root, no apt-get, it failed): skip with this."""


def apt_install(packages: list[str], binaries: list[str]) -> None:
    """`apt-get install packages` unless every one of `binaries` is on PATH already (root and apt-get needed);
    Unavailable with the reason otherwise. A stale package index is updated once."""
    if all(shutil.which(b) for b in binaries):
        return
    what = " ".join(packages)
    if os.geteuid() != 0:
        raise Unavailable(f"{', '.join(binaries)} not installed; installing it needs root (apt-get install {what})")
    if not shutil.which("apt-get"):
        raise Unavailable(f"{', '.join(binaries)} not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=APT_TIMEOUT_S)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"apt-get install {what} timed out after {exc.timeout} s") from exc
    if proc.returncode != 0 or not all(shutil.which(b) for b in binaries):
        raise Unavailable(f"apt-get install {what} failed:\n{proc.stderr[-2000:]}")


def run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a command with the venv's bin first on PATH; fail with its output if it fails."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """`snakemake` on the repo's Snakefile in `workdir` (which holds params.yaml)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           *args]
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
