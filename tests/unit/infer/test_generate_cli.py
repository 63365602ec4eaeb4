"""`talkhead generate` / `blendshapes` input and output hygiene: every bad input is one line on stderr and a
non-zero exit before the expensive work; a large portrait is capped to --max-size (issue 19)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from talkhead.cli import main
from talkhead.media.encode import write_wav

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: restores torch's threads afterwards


@pytest.fixture
def wav(tmp_path) -> Path:
    """0.4 s of a 180 Hz tone at 16 kHz."""
    path = tmp_path / "speech.wav"
    write_wav(path, (0.2 * np.sin(2 * np.pi * 180 * np.arange(6400) / 16000)).astype(np.float32), 16000)
    return path


@pytest.fixture
def portrait(tmp_path) -> Path:
    """The astronaut's face in a 1000 × 600 photo (white to the right)."""
    import cv2
    from PIL import Image
    from skimage import data

    canvas = np.full((600, 1000, 3), 255, np.uint8)
    canvas[:, :600] = cv2.resize(data.astronaut(), (600, 600), interpolation=cv2.INTER_AREA)
    path = tmp_path / "portrait.png"
    Image.fromarray(canvas).save(path)
    return path


def _one_error_line(capsys) -> str:
    """The single line the command wrote to stderr (no traceback, no warnings)."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


def _generate(*args: str) -> list[str]:
    return ["generate", "--threads", "1", *args]


def test_unreadable_and_oversized_images_are_one_line_errors(tmp_path, wav, capsys, png_header):
    corrupt, bomb, big, truncated = (tmp_path / f"{n}.png" for n in ("corrupt", "bomb", "big", "truncated"))
    corrupt.write_bytes(os.urandom(64))
    bomb.write_bytes(png_header(14000, 14000))  # over Pillow's own decompression-bomb limit
    big.write_bytes(png_header(11000, 10000))  # under Pillow's limit, over talkhead's 100 megapixels
    truncated.write_bytes(png_header(100, 100))
    expected = {corrupt: "not a readable image", bomb: "decompression-bomb limit", big: "110 megapixels",
                truncated: "not a readable image"}
    for image, words in expected.items():
        code = main(_generate("--image", str(image), "--audio", str(wav), "--out", str(tmp_path / "x.mp4"),
                              "--model", str(tmp_path / "no_model")))
        line = _one_error_line(capsys)
        assert code != 0 and words in line and str(image) in line, (image, line)
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("text", ["?!...,;", "   ", "—…«»"])
def test_text_with_nothing_to_speak_is_an_error(tmp_path, portrait, capsys, text):
    assert main(_generate("--image", str(portrait), "--text", text, "--out", str(tmp_path / "x.mp4"))) != 0
    assert "nothing to speak" in _one_error_line(capsys)


def test_text_in_any_script_is_speakable():
    from talkhead.infer.generate import check_text

    for text in ("Hello", "42", "你好", "Привет!", "¿Qué?"):
        assert check_text(text) == text


def _bad_outputs(tmp_path: Path) -> dict[str, str]:
    """--out values that must be refused, with a word of the message."""
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    bad = {str(tmp_path / "a_folder"): "is a folder", str(tmp_path / "a_file" / "out.x"): "not a folder"}
    if os.geteuid() != 0:  # root writes into read-only folders
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        bad[str(locked / "sub" / "out.x")] = "cannot write"
    return bad


def test_generate_out_must_be_a_writable_file(tmp_path, portrait, wav, capsys):
    for out, words in _bad_outputs(tmp_path).items():
        # no model folder: the --out check must come before anything is loaded
        assert main(_generate("--image", str(portrait), "--audio", str(wav), "--out", out,
                              "--model", str(tmp_path / "no_model"))) != 0
        assert words in _one_error_line(capsys), out


def test_blendshapes_out_must_be_a_writable_file(tmp_path, wav, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")  # exists: the --out check is what fails
    for out, words in _bad_outputs(tmp_path).items():
        assert main(["blendshapes", "--threads", "1", "--audio", str(wav), "--out", out, "--model", str(model)]) != 0
        assert words in _one_error_line(capsys), out


def test_blendshapes_defaults_to_the_demo_model_and_names_it_when_missing(tmp_path, wav, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["blendshapes", "--audio", str(wav), "--out", "x.csv"]) != 0
    line = _one_error_line(capsys)
    assert "data/models/v3face/expression" in line and "make demo" in line
    assert main(["blendshapes", "--audio", str(wav), "--out", "x.csv", "--onnx", "missing.onnx"]) != 0
    assert "missing.onnx" in _one_error_line(capsys)
    assert main(["blendshapes", "--audio", str(wav), "--out", "x.csv", "--model", "m", "--onnx", "g.onnx"]) != 0
    assert "not both" in _one_error_line(capsys)


def test_blendshapes_default_model_is_used(tmp_path, wav, monkeypatch):
    """With neither --model nor --onnx, the model folder `make demo` writes is run; the CSV is written."""
    from talkhead.infer import v3face

    folder = tmp_path / "data/models/v3face/expression"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    seen = []
    monkeypatch.setattr(v3face, "predict_model", lambda model, mel, emotion: seen.append(model) or
                        np.full((len(mel) // 4, 52), 0.5, np.float32))
    monkeypatch.chdir(tmp_path)
    assert main(["blendshapes", "--threads", "1", "--audio", str(wav), "--out", "out/x.csv"]) == 0
    assert seen == [Path("data/models/v3face/expression")]
    lines = (tmp_path / "out/x.csv").read_text().splitlines()
    assert len(lines) == 1 + 10 and lines[0].startswith("frame,time_s,")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.csv"]  # no temporary left


def test_csv_is_written_atomically(tmp_path):
    """A failure mid-write leaves the previous file whole and no partial file beside it."""
    from talkhead.infer import v3face

    out = tmp_path / "x.csv"
    v3face.write_csv(out, np.zeros((3, 52), np.float32), 25)
    before = out.read_text()

    class Boom(Exception):
        pass

    def explode(*_):
        raise Boom

    with pytest.raises(Boom):
        v3face.write_csv(out, map(explode, np.zeros((5, 52), np.float32)), 25)  # rows fail after the header was written
    assert out.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_threads_sets_torch_and_opencv(tmp_path, wav, monkeypatch):
    import cv2
    import torch

    from talkhead import cli

    assert cli._cores() == len(os.sched_getaffinity(0))
    monkeypatch.chdir(tmp_path)
    main(["blendshapes", "--threads", "3", "--audio", str(wav), "--out", "x.csv", "--model", str(tmp_path / "m")])
    assert torch.get_num_threads() == 1  # a refused command sets nothing
    cli._use_threads(2)
    assert torch.get_num_threads() == 2 and cv2.getNumThreads() == 2
    with pytest.raises(SystemExit):
        main(["qc", "v.mp4", "--out", "o", "--threads", "0"])


def test_max_size_caps_the_video_with_even_sides(tmp_path, portrait, wav, monkeypatch, capsys):
    """A 1000 × 600 portrait with --max-size 400 → a 400 × 240 video (the motion model is a stand-in)."""
    from talkhead.infer import generate, motion
    from talkhead.media.probe import probe

    monkeypatch.setattr(generate, "load_motion_model", lambda _: (None, {"train": {}}, None))
    monkeypatch.setattr(motion, "generate_motion", lambda model, meta, stats, mel, ref, *_: np.repeat(
        np.asarray(ref, np.float32)[None], len(mel) // 4, 0))
    out = tmp_path / "sub" / "talk.mp4"  # a missing folder is created
    assert main(_generate("--image", str(portrait), "--audio", str(wav), "--out", str(out), "--max-size", "401")) == 0
    info = probe(out)["video"]
    assert (info["width"], info["height"]) == (400, 240) and info["frames"] == 10
    assert "1000×600 portrait downscaled to 400×240" in capsys.readouterr().err


def test_max_size_bounds(tmp_path, portrait, wav, capsys):
    assert main(_generate("--image", str(portrait), "--audio", str(wav), "--out", str(tmp_path / "x.mp4"),
                          "--max-size", "10000")) != 0
    assert "--max-size" in _one_error_line(capsys)
