"""Real portraits from ../shared/fixtures/real/images (skipped when absent): one face renders, the rest are refused."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.render import MultipleFacesError, NoFaceError, load_image

pytestmark = pytest.mark.realdata

ONE_FACE = ["face_recognition__obama.jpg", "SadTalker__source_image_happy.png", "SadTalker__source_image_sad1.png",
            "SadTalker__source_image_people_0.png", "hallo__reference_images_3.jpg", "hallo__reference_images_6.jpg",
            "AniPortrait__ref_images_Aragaki.png", "LivePortrait__insightface_Tom_Hanks_54745.png"]
REFUSED = [("face_recognition__two_people.jpg", MultipleFacesError, "2 faces"),
           ("LivePortrait__insightface_t1.jpg", MultipleFacesError, "faces found"),
           ("LivePortrait__source_s25.jpg", NoFaceError, "no face found in")]  # a dog; really a PNG named .jpg


def test_one_face_portraits_render(real_media, renderer, open_jaw):
    for name in ONE_FACE:
        image = load_image(real_media / "images" / name)
        source = renderer.prepare(image, name=name)
        motion = np.stack([source.motion, open_jaw(source.motion, 0.12)])
        frames = renderer.render(source, motion)
        assert np.abs(next(frames).astype(int) - image).max() <= 1, name
        moved = np.abs(next(frames).astype(int) - image).max(2) > 10
        assert moved.sum() > 20, name


@pytest.mark.parametrize(("name", "error", "message"), REFUSED)
def test_refused_portraits(real_media, renderer, name, error, message):
    with pytest.raises(error, match=message):
        renderer.prepare(load_image(real_media / "images" / name), name=name)


def test_motion_measured_on_a_real_clip_drives_the_astronaut(real_media, astronaut, tmp_path):
    from itertools import islice

    from talkhead.faces.mediapipe_backend import FaceMesh
    from talkhead.features.mesh import fill_and_smooth
    from talkhead.features.motion import motion_from_pose
    from talkhead.features.pose import fit_pose
    from talkhead.media.decode import decode_audio, iter_frames_cfr
    from talkhead.media.probe import probe
    from talkhead.render import make_renderer, render_video

    clip = real_media / "videos" / "video-retalking__face_2.mp4"
    mesh = FaceMesh()
    try:
        found = [mesh.landmarks(f) for f in islice(iter_frames_cfr(clip, 25), 50)]
    finally:
        mesh.close()
    points, _ = fill_and_smooth(np.stack([p if p is not None else np.full((478, 3), np.nan, np.float32)
                                          for p in found]), 0.7)
    motion = motion_from_pose(points, fit_pose(points))  # (50, 70) another person's real motion
    renderer = make_renderer("mesh_warp", exp_reference="first")
    audio = decode_audio(clip, 16000, end=2.0)
    summary = render_video(renderer, astronaut, motion, (audio, 16000), tmp_path / "driven.mp4")
    assert summary["frames"] == 50 and probe(tmp_path / "driven.mp4")["video"]["frames"] == 50
    source = renderer.prepare(astronaut)
    lips = renderer.frame_points(source, motion)[:, [13, 14], 1]  # (50, 2) inner lips, work pixels
    opening = (lips[:, 1] - lips[:, 0]) / source.portrait.crop.scale
    assert opening.max() - opening.min() > 3  # the mouth really opens and closes with the speech
