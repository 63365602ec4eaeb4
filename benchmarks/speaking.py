"""Does the generator visibly speak real speech? The speaking measure on generated and on real videos.

    python benchmarks/speaking.py [--model data/models/motion_dit] [--mouth auto|none|DIR]
                                  [--out benchmarks/results/speaking.json] [--figures DIR]
                                  [--portraits N] [--speech N] [--sheet docs/images/speaking_sheet.jpg]
                                  [--other-languages]

`talkhead generate` (talkhead.infer.generate.generate_video, the trained model in `--model`: run
`make demo` first) makes a video for every real portrait with one face in
../shared/fixtures/real/images driven by every English speech file in ../shared/fixtures/real/audio
(the PROVENANCE marks them; `--portraits` / `--speech` take the first N of each for a quick run).
`--other-languages` takes the other recordings instead (Mandarin, German, Japanese and hallo's
driving audio: never looked at while the generator was built, so a held-out check) and writes
benchmarks/results/speaking_other_languages.json.
Every generated video, and the five real talking clips beside them, is scored with
talkhead.eval.speaking: the inner-lip gap in eye-corner units (its std and 95th − 5th percentile
range) and the best-lag (±3 frames) correlation of the gap with the per-frame loudness.

`--mouth` is `talkhead generate --mouth`: auto (V3 Face's lipsync model beside the motion model
moves the mouth), none (the motion DiT alone) or a V3 Face folder.

Figures (`--figures`, default benchmarks/results/speaking/, not committed: they show the fixtures'
faces): per video the gap track over the loudness envelope (`<video>.png`) and a contact sheet
(`<video>.jpg`: six frames evenly spaced, then the mouth of the six most open frames, 3× enlarged).
`--sheet PATH` also writes one contact sheet of skimage's astronaut (public domain, NASA) speaking the
first English recording: the one committed to docs/.

Targets (issue 19): generated gap std ≥ 0.025 and r ≥ 0.25 on every portrait and speech file.
Without ../shared the script says so and exits 0 (nothing real to measure).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
from preprocess import REAL_SPEAKERS  # noqa: E402  (the five real talking clips)

from talkhead.eval.portraits import TARGET_R, TARGET_STD, score_portraits, summary_metrics  # noqa: E402
from talkhead.eval.speaking import speaking_measures, video_tracks  # noqa: E402

REAL = REPO.parent / "shared" / "fixtures" / "real"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "speaking.json"
ENGLISH_SPEECH = ["SadTalker__driven_audio_RD_Radio31_000.wav", "LatentSync__demo1_audio.wav",
                  "video-retalking__audio_1.wav"]


def _rounded(m: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else (None if isinstance(v, float) else v))
            for k, v in m.items()}


def _score(video: Path, figures: Path | None) -> dict:
    """Speaking measures of a video; with `figures`, its track plot and contact sheet there."""
    gap, loudness = video_tracks(video)
    m = _rounded(speaking_measures(gap, loudness))
    if figures is not None:
        figures.mkdir(parents=True, exist_ok=True)
        plot_tracks(gap, loudness, m, figures / f"{video.stem}.png")
        contact_sheet(video, gap, figures / f"{video.stem}.jpg")
    return m


def plot_tracks(gap: np.ndarray, loudness: np.ndarray, m: dict, out: Path) -> None:
    """The gap track (left axis) over the loudness envelope (right axis, dB) against time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(gap)) / 25.0
    fig, ax = plt.subplots(figsize=(8, 2.6), dpi=100)
    ax.plot(t, gap, color="tab:red", lw=1.4, label="inner-lip gap / eye corners")
    ax.set_xlabel("seconds")
    ax.set_ylabel("gap", color="tab:red")
    ax2 = ax.twinx()
    ax2.fill_between(t, np.maximum(loudness, -60.0), -60.0, color="tab:blue", alpha=0.2, lw=0)
    ax2.set_ylabel("loudness (dB)", color="tab:blue")
    ax.set_title(f"{out.stem}: gap std {m['gap_std']}, range {m['gap_range']}, r {m['r_loudness']} @ {m['lag']}",
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def contact_sheet(video: Path, gap: np.ndarray, out: Path, tile: int = 200) -> None:
    """Six frames evenly spaced (top row) and the mouths of the six most open frames, 3× enlarged (bottom row)."""
    import cv2

    from talkhead.eval.landmarks import extract_landmarks
    from talkhead.media.decode import iter_frames_cfr

    frames = list(iter_frames_cfr(video, 25, max_side=720))
    even = np.linspace(0, len(frames) - 1, 6).round().astype(int)
    valid = np.where(np.isfinite(gap), gap, -np.inf)
    opened = np.sort(np.argsort(valid)[-6:])
    points = extract_landmarks(iter(frames[i] for i in opened))  # (6, 478, 3) pixels
    top = [cv2.resize(frames[i], (tile, tile * frames[i].shape[0] // frames[i].shape[1])) for i in even]
    bottom = []
    for i, pts in zip(opened, points):
        if not np.isfinite(pts).all():
            bottom.append(np.zeros_like(top[0]))
            continue
        lips = pts[[61, 291, 0, 17], :2]
        cx, cy = lips.mean(0)
        half = max(8.0, 0.9 * float(np.ptp(lips[:, 0])))
        h, w = frames[i].shape[:2]
        x0, y0 = int(max(cx - half, 0)), int(max(cy - half * top[0].shape[0] / tile, 0))
        x1, y1 = int(min(cx + half, w)), int(min(cy + half * top[0].shape[0] / tile, h))
        bottom.append(cv2.resize(frames[i][y0:y1, x0:x1], top[0].shape[1::-1], interpolation=cv2.INTER_CUBIC))
    sheet = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def astronaut_sheet(model: Path, audio: Path, mouth: str, out: Path, work: Path) -> dict:
    """skimage's astronaut speaking `audio`: its contact sheet to `out`; returns the speaking measures."""
    from PIL import Image
    from skimage import data

    from talkhead.infer.generate import GenerateRequest, generate_video

    image = work / "astronaut.png"
    Image.fromarray(data.astronaut()).save(image)
    video = work / "astronaut.mp4"
    generate_video(GenerateRequest(image, video, audio=audio, model=model, mouth=mouth))
    gap, loudness = video_tracks(video)
    out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(video, gap, out)
    plot_tracks(gap, loudness, _rounded(speaking_measures(gap, loudness)), out.with_suffix(".png"))
    return _rounded(speaking_measures(gap, loudness))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "data" / "models" / "motion_dit")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--portraits", type=int, default=0, help="only the first N portraits (0: all)")
    parser.add_argument("--speech", type=int, default=0, help="only the first N English speech files (0: all)")
    parser.add_argument("--other-languages", action="store_true",
                        help="the non-English recordings instead (held out): speaking_other_languages.json")
    parser.add_argument("--mouth", default="auto", help="talkhead generate --mouth: auto, none or a V3 Face folder")
    parser.add_argument("--figures", type=Path, default=REPO / "benchmarks" / "results" / "speaking",
                        help="per-video track plots and contact sheets (not committed: they show the fixtures)")
    parser.add_argument("--sheet", type=Path, default=None, help="also the astronaut's contact sheet to this .jpg")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not (REAL / "expected.csv").is_file():
        print(f"no real fixtures at {REAL}: nothing to measure")
        return 0
    if not (args.model / "config.json").is_file():
        print(f"no trained model in {args.model}: run `make demo` first (or give --model)")
        return 2
    portraits = sorted((REAL / "images").iterdir())[: args.portraits or None]
    if args.other_languages:
        speech = sorted(p for p in (REAL / "audio").iterdir() if p.name not in ENGLISH_SPEECH)
        if args.out == DEFAULT_OUT:
            args.out = args.out.with_name("speaking_other_languages.json")
    else:
        speech = [REAL / "audio" / name for name in ENGLISH_SPEECH]
    speech = speech[: args.speech or None]
    real = []
    for name in REAL_SPEAKERS:
        m = _score(REAL / "videos" / name, args.figures)
        real.append({"video": name, **m})
        print(f"{'real ' + name:91s} gap std {m['gap_std']}, range {m['gap_range']}, r {m['r_loudness']} @ {m['lag']}",
              flush=True)
    with tempfile.TemporaryDirectory(prefix="talkhead-speaking-") as tmp:
        def figures(video: Path, gap: np.ndarray, loudness: np.ndarray, row: dict) -> None:
            print(f"{row['portrait']:45s} {row['speech']:45s} gap std {row['gap_std']}, range {row['gap_range']}, "
                  f"r {row['r_loudness']} @ {row['lag']}  {'ok' if row['meets_target'] else 'below target'}",
                  flush=True)
            args.figures.mkdir(parents=True, exist_ok=True)
            plot_tracks(gap, loudness, row, args.figures / f"{video.stem}.png")
            contact_sheet(video, gap, args.figures / f"{video.stem}.jpg")

        gen = score_portraits(args.model, portraits, speech, Path(tmp), args.mouth, figures)
        sheet = astronaut_sheet(args.model, speech[0], args.mouth, args.sheet, Path(tmp)) if args.sheet else None
    scored = [g for g in gen if "skipped" not in g]
    results = {"summary": summary_metrics(gen),
        "machine": f"{platform.machine()}, Python {platform.python_version()}", "model": str(args.model),
        "mouth": args.mouth, "astronaut_sheet": sheet and {"file": str(args.sheet), "speech": speech[0].name, **sheet},
        "targets": {"gap_std": TARGET_STD, "r_loudness": TARGET_R},
        "real": real, "generated": gen,
        "generated_meeting_target": f"{sum(g['meets_target'] for g in scored)} of {len(scored)}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{results['generated_meeting_target']} generated videos meet the target → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
