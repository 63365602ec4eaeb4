"""The speaking measure on real video: real talking mouths move; the same face held still does not."""

from __future__ import annotations

import itertools

import pytest

from talkhead.eval.speaking import measure_video
from talkhead.media.decode import iter_frames_cfr
from talkhead.media.encode import VideoWriter

pytestmark = pytest.mark.realdata
SPEAKERS = ("videos/video-retalking__face_1.mp4", "videos/AniPortrait__head_pose_temp_pose_ref_video.mp4")


@pytest.mark.parametrize("rel", SPEAKERS)
def test_a_real_speaker_s_mouth_moves_and_the_same_face_held_still_does_not(real_media, tmp_path, rel):
    clip = real_media / rel
    talking = measure_video(clip, max_side=256)
    assert talking["mesh_rate"] > 0.95 and talking["gap_std"] > 0.03 and talking["gap_range"] > 0.1, talking
    first = next(iter_frames_cfr(clip, 25, max_side=256))  # (H, W, 3)
    still = tmp_path / "still.mp4"
    with VideoWriter(still, fps=25, size=(first.shape[1] // 2 * 2, first.shape[0] // 2 * 2)) as writer:
        for frame in itertools.repeat(first[: first.shape[0] // 2 * 2, : first.shape[1] // 2 * 2], 75):
            writer.write_frame(frame)
    held = measure_video(still, audio=clip, max_side=256)
    assert held["frames"] == 75 and held["gap_std"] < 0.1 * talking["gap_std"], held
