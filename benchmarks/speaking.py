"""Does the generator visibly speak real speech? The speaking measure on generated and on real videos.

    python benchmarks/speaking.py [--model data/models/motion_dit] [--out benchmarks/results/speaking.json]
                                  [--portraits N] [--speech N]

`talkhead generate` (talkhead.infer.generate.generate_video, the trained model in `--model`: run
`make demo` first) makes a video for every real portrait with one face in
../shared/fixtures/real/images driven by every English speech file in ../shared/fixtures/real/audio
(the PROVENANCE marks them; `--portraits` / `--speech` take the first N of each for a quick run).
Every generated video, and the five real talking clips beside them, is scored with
talkhead.eval.speaking: the inner-lip gap in eye-corner units (its std and 95th − 5th percentile
range) and the best-lag (±3 frames) correlation of the gap with the per-frame loudness.

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
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
from preprocess import REAL_SPEAKERS  # noqa: E402  (the five real talking clips)

from talkhead.eval.speaking import measure_video  # noqa: E402

REAL = REPO.parent / "shared" / "fixtures" / "real"
ENGLISH_SPEECH = ["SadTalker__driven_audio_RD_Radio31_000.wav", "LatentSync__demo1_audio.wav",
                  "video-retalking__audio_1.wav"]
TARGET_STD, TARGET_R = 0.025, 0.25


def _rounded(m: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else (None if isinstance(v, float) else v))
            for k, v in m.items()}


def generated(model: Path, portraits: list[Path], speech: list[Path], work: Path) -> list[dict]:
    """Generate and score one video per (portrait, speech); a portrait the renderer refuses is recorded, not fatal."""
    from talkhead.infer.generate import GenerateRequest, generate_video
    from talkhead.render import MultipleFacesError, NoFaceError

    rows = []
    for image in portraits:
        for audio in speech:
            out = work / f"{image.stem}__{audio.stem}.mp4"
            t0 = time.perf_counter()
            try:
                generate_video(GenerateRequest(image, out, audio=audio, model=model))
            except (NoFaceError, MultipleFacesError) as exc:
                rows.append({"portrait": image.name, "speech": audio.name, "skipped": str(exc)})
                print(f"{image.name:45s} skipped: {exc}", flush=True)
                break  # the same portrait fails the same way with every speech file
            seconds = time.perf_counter() - t0
            m = _rounded(measure_video(out))
            ok = (m["gap_std"] or 0) >= TARGET_STD and (m["r_loudness"] or -1) >= TARGET_R
            rows.append({"portrait": image.name, "speech": audio.name, "generate_s": round(seconds, 1), **m,
                         "meets_target": ok})
            print(f"{image.name:45s} {audio.name:45s} gap std {m['gap_std']}, range {m['gap_range']}, "
                  f"r {m['r_loudness']} @ {m['lag']}  {'ok' if ok else 'below target'}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "data" / "models" / "motion_dit")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "speaking.json")
    parser.add_argument("--portraits", type=int, default=0, help="only the first N portraits (0: all)")
    parser.add_argument("--speech", type=int, default=0, help="only the first N English speech files (0: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not (REAL / "expected.csv").is_file():
        print(f"no real fixtures at {REAL}: nothing to measure")
        return 0
    if not (args.model / "config.json").is_file():
        print(f"no trained model in {args.model}: run `make demo` first (or give --model)")
        return 2
    portraits = sorted((REAL / "images").iterdir())[: args.portraits or None]
    speech = [REAL / "audio" / name for name in ENGLISH_SPEECH][: args.speech or None]
    real = []
    for name in REAL_SPEAKERS:
        m = _rounded(measure_video(REAL / "videos" / name))
        real.append({"video": name, **m})
        print(f"{'real ' + name:91s} gap std {m['gap_std']}, range {m['gap_range']}, r {m['r_loudness']} @ {m['lag']}",
              flush=True)
    with tempfile.TemporaryDirectory(prefix="talkhead-speaking-") as tmp:
        gen = generated(args.model, portraits, speech, Path(tmp))
    scored = [g for g in gen if "skipped" not in g]
    results = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}", "model": str(args.model),
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
