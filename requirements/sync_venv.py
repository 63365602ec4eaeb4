"""Uninstall from the running environment what the lock file dropped since this venv was installed.

    python requirements/sync_venv.py --previous .venv/.installed [--lock requirements/lock.txt] [--dry-run]

`pip install -r requirements/lock.txt` adds and upgrades but never removes, so a venv made with an
older lock keeps what the project no longer uses (torchaudio after 2026-12-06, which pins another
torch), and `pip check` then fails. `make install` records the lock it installed in the venv's stamp
file; on the next install this removes every distribution that lock named and the new one does not.
What the user installed beside the lock (gsplat for CUDA, a CUDA build of torch) is never touched.
A venv whose stamp holds no lock (made before the stamp recorded it) is checked against DROPPED,
the distributions earlier locks had.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

DROPPED = {"torchaudio"}  # in a lock before the stamp recorded the installed lock (2026-12-06)


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_names(lock: Path) -> set[str]:
    """The canonical names pinned in a `name==version` lock file (comments and blank lines skipped)."""
    names = set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(canonical(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0]))
    return names


def dropped(installed: set[str], previous: set[str], locked: set[str]) -> list[str]:
    """Installed distributions the previous lock named and the current one does not, sorted."""
    return sorted((installed & (previous or {canonical(n) for n in DROPPED})) - locked)


def main(argv: list[str] | None = None) -> int:
    """Uninstall what the lock dropped; print what was removed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=Path(__file__).with_name("lock.txt"))
    parser.add_argument("--previous", type=Path, required=True, help="the lock this venv was installed from")
    parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    args = parser.parse_args(argv)
    installed = {canonical(d.metadata["Name"]) for d in metadata.distributions() if d.metadata["Name"]}
    previous = locked_names(args.previous) if args.previous.is_file() else set()
    drop = dropped(installed, previous, locked_names(args.lock))
    if drop:
        print("dropped from the lock, removing:" if not args.dry_run else "dropped from the lock:", " ".join(drop))
        if not args.dry_run:
            subprocess.run([sys.executable, "-m", "pip", "uninstall", "-qq", "-y", *drop], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
