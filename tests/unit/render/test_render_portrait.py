"""Portrait loading and face finding: orientation, formats, no face, several faces, large and small photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from talkhead.faces.types import Detection
from talkhead.render.portrait import (ImageTooLargeError, MultipleFacesError, NoFaceError, count_faces, find_portrait,
                                      fit_long_side, load_image)


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


def test_load_image_caps_the_long_side(tmp_path, astronaut):
    import cv2

    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=95)  # decoded at a reduced DCT scale, then averaged
    capped = load_image(tmp_path / "big.jpg", max_side=500)
    full = cv2.resize(load_image(tmp_path / "big.jpg"), (500, 500), interpolation=cv2.INTER_AREA)
    assert capped.shape == (500, 500, 3) and np.abs(capped.astype(int) - full).mean() < 3
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed 512 wide, 300 tall
    Image.fromarray(astronaut[:, :300]).save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    assert load_image(tmp_path / "rot.jpg", max_side=256).shape == (150, 256, 3)
    assert load_image(tmp_path / "rot.jpg", max_side=512).shape == (300, 512, 3)  # within the cap: as it is


def test_load_image_refuses_huge_and_truncated_files(tmp_path, png_header):
    for name, (w, h), words in (("bomb", (14000, 14000), "decompression-bomb"), ("big", (11000, 10000), "110 megap")):
        (tmp_path / f"{name}.png").write_bytes(png_header(w, h))  # a header only: nothing large is ever decoded
        with pytest.raises(ImageTooLargeError, match=words):
            load_image(tmp_path / f"{name}.png")
    (tmp_path / "cut.png").write_bytes(png_header(100, 100))
    with pytest.raises(ValueError, match="not a readable image"):
        load_image(tmp_path / "cut.png")


def test_fit_long_side_keeps_the_aspect_with_even_sides():
    image = np.zeros((601, 1001, 3), np.uint8)
    assert fit_long_side(image, 255).shape == (152, 254, 3)
    assert fit_long_side(image.transpose(1, 0, 2), 256).shape == (256, 154, 3)
    assert fit_long_side(image, 2000) is image  # within the cap: untouched


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
