"""A copy of each accepted real clip with 32 KiB of random bytes written at its middle is rejected or cut.

Never padded and accepted whole: either `corrupt_stream`, or accepted with its damage counted and
training segments that touch no damaged frame.
"""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.config import load_params
from talkhead.stages.qc_files import run_qc

pytestmark = pytest.mark.realdata
ACCEPTED = ["video-retalking__face_1", "video-retalking__face_2", "video-retalking__face_4",
            "SadTalker__ref_video_WDA_KatieHill_000", "AniPortrait__head_pose_temp_pose_ref_video"]


def corrupt_copy(src, dest, size: int = 32 * 1024, seed: int = 0) -> None:
    """`src` with `size` random bytes written over its middle."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid:mid + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    dest.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def reports(real_media, tmp_path_factory):
    folder = tmp_path_factory.mktemp("corrupt")
    files = []
    for i, clip in enumerate(ACCEPTED):
        files.append(folder / f"{clip}__corrupt.mp4")
        corrupt_copy(real_media / "videos" / f"{clip}.mp4", files[-1], seed=i)
    params = load_params(None)
    params["crop"]["size"] = 256
    return run_qc(files, folder / "qc", params, keep=True), folder / "qc"


def test_damage_is_found_in_every_copy(reports):
    found = [(r["clip"], r["measures"].get("damaged_frames"), r["measures"].get("decode_errors")) for r in reports[0]]
    assert all(damaged for _, damaged, _ in found), found


def test_a_damaged_clip_is_rejected_or_cut_to_its_intact_part(reports):
    import json

    for report in reports[0]:
        m = report["measures"]
        if report["verdict"] == "reject":
            assert "corrupt_stream" in report["reasons"] or report["reasons"], report
            continue
        quality = json.loads(next((reports[1] / ".work" / "quality").glob(
            f"{report['clip']}/quality.json")).read_text())
        bad = np.zeros(m["frames"], bool)
        for a, b in m["damaged_ranges"]:
            bad[a:b] = True
        kept = [(a, b) for a, b in quality["segments"]]
        assert kept and not any(bad[a:b].any() for a, b in kept), (report["clip"], kept, m["damaged_ranges"])
        assert sum(b - a for a, b in kept) <= m["frames"] - m["damaged_frames"]
