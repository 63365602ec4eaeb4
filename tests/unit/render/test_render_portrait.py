"""Portrait loading and face finding: orientation, formats, no face, several faces, large and small photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from talkhead.faces.types import Detection
from talkhead.render.portrait import (MultipleFacesError, NoFaceError, count_faces, find_portrait, load_image)


def test_load_image_applies_exif_orientation_and_formats(tmp_path, astronaut):
    tall = astronaut[:, :300]  # (512, 300, 3)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90° clockwise
    Image.fromarray(tall).save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    loaded = load_image(tmp_path / "rot.jpg")
    assert loaded.shape == (300, 512, 3)
    assert np.abs(loaded.astype(int) - np.rot90(tall, -1)).mean() < 4
    Image.fromarray(astronaut).convert("L").save(tmp_path / "grey.png")
    assert load_image(tmp_path / "grey.png").shape == (512, 512, 3)
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "alpha.webp", lossless=True)
    np.testing.assert_array_equal(load_image(tmp_path / "alpha.webp"), astronaut)
    grey16 = (astronaut.mean(2) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    loaded16 = load_image(tmp_path / "grey16.png")
    assert loaded16.shape == (512, 512, 3) and abs(int(loaded16.mean()) - int(astronaut.mean())) <= 1
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        load_image(tmp_path / "bad.png")


def test_count_faces_ignores_small_background_faces():
    def det(size: float) -> Detection:
        """A square detection of this side."""
        return Detection(np.array([0, 0, size, size], np.float32), 0.9, np.zeros((5, 2), np.float32))

    assert len(count_faces([det(200), det(50)])) == 1  # a face on a poster behind the speaker
    assert len(count_faces([det(200), det(150)])) == 2
    assert len(count_faces([det(20)])) == 0  # below MIN_FACE_PX
    assert count_faces([]) == []


def test_a_cat_has_no_face():
    from skimage import data

    with pytest.raises(NoFaceError, match="no face found in chelsea"):
        find_portrait(data.chelsea(), name="chelsea")


def test_two_faces_side_by_side(astronaut):
    with pytest.raises(MultipleFacesError, match="2 faces") as info:
        find_portrait(np.concatenate([astronaut, astronaut], 1))
    assert info.value.count == 2


@pytest.mark.parametrize("side", [3500, 256])
def test_large_and_small_portraits(renderer, astronaut, open_jaw, side):
    import cv2

    image = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_CUBIC if side > 512 else cv2.INTER_AREA)
    source = renderer.prepare(image)
    crop = source.portrait.crop
    assert crop.size <= renderer.config.work_size
    mesh = source.portrait.mesh
    assert (mesh[:468, :2] > 0).all() and (mesh[:468, :2] < side).all()
    motion = np.stack([source.motion, open_jaw(source.motion, 0.15)])
    frames = renderer.render(source, motion)
    first = next(frames)
    assert first.shape == image.shape and cv2.absdiff(first, image).max() <= 1
    second = next(frames)
    changed = cv2.absdiff(second, image).max(2) > 10
    ys, xs = np.nonzero(changed)
    assert len(ys) > 0
    # the change stays around the mouth and jaw, inside the face's work crop
    assert xs.min() >= crop.x0 and xs.max() <= crop.x0 + crop.side
    assert ys.min() > mesh[[159, 386], 1].max()
