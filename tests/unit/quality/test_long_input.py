"""A 10-minute 1080p input gets a verdict with bounded memory (frames are streamed, never held).

Slow (about 3 minutes on one core): `make test-all`. benchmarks/preprocess.py --long measures the
same on a real face clip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import imageio_ffmpeg
import pytest

from talkhead.data.manifest import read_manifest

pytestmark = pytest.mark.slow
PEAK_LIMIT_MB = 1500


def test_ten_minute_1080p_clip(tmp_path, demo_dataset):
    row = next(r for r in read_manifest(demo_dataset) if r.clip_id.startswith("demo_s"))
    long = tmp_path / "ten_minutes_1080p.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-stream_loop", "-1",
                    "-i", str(demo_dataset.parent / row.source), "-t", "600",
                    "-vf", "scale=1080:1080,pad=1920:1080:420:0,fps=25", "-c:v", "libx264", "-preset", "ultrafast",
                    "-crf", "30", "-c:a", "aac", str(long)], check=True)
    params = tmp_path / "params.yaml"
    params.write_text("crop:\n  size: 256\n  preset: ultrafast\n")
    child = subprocess.Popen([sys.executable, "-m", "talkhead.cli", "qc", str(long), "--out", str(tmp_path / "out"),
                              "--params", str(params)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report = json.loads((tmp_path / "out" / "ten_minutes_1080p.mp4.json").read_text())
    assert report["verdict"] in ("accept", "reject") and report["measures"]["frames"] == 15000
    assert usage.ru_maxrss / 1024 < PEAK_LIMIT_MB, f"peak memory {usage.ru_maxrss / 1024:.0f} MB"
