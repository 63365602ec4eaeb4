"""A real browser for the report tests: Debian's headless Chromium, installed like the SLURM tests install slurm."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .helpers import apt_install

NAMES = ("chromium", "chromium-browser")


def chromium() -> str:
    """The Chromium binary, installed with apt-get when absent; helpers.Unavailable when it cannot be."""
    found = next((shutil.which(n) for n in NAMES if shutil.which(n)), None)
    if found:
        return found
    apt_install(["chromium"], ["chromium"])
    return shutil.which("chromium") or ""


def _run(browser: str, page: Path, *flags: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--virtual-time-budget=5000", *flags, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def screenshot(browser: str, page: Path, out: Path, size: tuple[int, int] = (1300, 1600)) -> Path:
    """A PNG of the page as the browser draws it (scripts run for up to 5 s of virtual time)."""
    _run(browser, page, f"--window-size={size[0]},{size[1]}", f"--screenshot={out}")
    return out


def dom(browser: str, page: Path) -> str:
    """The page's DOM after its scripts ran (what a reader sees, as HTML)."""
    return _run(browser, page, "--dump-dom").stdout
