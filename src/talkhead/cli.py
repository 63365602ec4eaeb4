"""The `talkhead` command: user-facing tools around the pipeline (`talkhead --help` lists them)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from talkhead import __version__
from talkhead.config import ConfigError, DemoConfig, load_params
from talkhead.logs import setup_logging

log = logging.getLogger("talkhead")

MAX_SIZE_RANGE = (64, 4096)  # --max-size bounds: a face left to detect; a square frame within H.264 level 6


def _cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under taskset or a batch scheduler)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_threads(parser: argparse.ArgumentParser) -> None:
    """The --threads option of a command that computes."""
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help=f"CPU threads for torch and OpenCV (default: every core this process may use, "
                        f"{_cores()} here)")


def _use_threads(threads: int | None) -> int:
    """Set torch's and OpenCV's thread counts for this command (None: every core we may use); returns it."""
    import cv2
    import torch

    n = threads or _cores()
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    log.debug("using %d threads", n)
    return n


def _output_file(path: str, command: str) -> Path:
    """--out as a file we can write, checked before any work: not a folder, and its nearest existing
    folder (missing ones are created when writing) accepts a new file; ConfigError otherwise."""
    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"talkhead {command}: --out {path} is a folder; give a file name")
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"talkhead {command}: --out {path}: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):  # the only sure test (permissions, read-only mounts, root)
            pass
    except OSError as exc:
        raise ConfigError(f"talkhead {command}: --out {path}: cannot write in {folder} ({exc.strerror})") from None
    return out


def _demo_data(args: argparse.Namespace) -> int:
    """Write the bundled demo dataset (no download) and its manifest."""
    from talkhead.demo import write_demo_dataset

    values = dict(load_params(args.params)["demo"])
    overrides = {"seconds": args.seconds, "size": args.size, "seed": args.seed,
                 "speakers": args.speakers, "clips_per_speaker": args.clips_per_speaker}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if args.no_negatives:
        values["negatives"] = False
    manifest = write_demo_dataset(Path(args.out), DemoConfig.from_dict(values))
    log.info("demo dataset written: manifest %s", manifest)
    sys.stdout.write(f"{manifest}\n")
    return 0


def _qc(args: argparse.Namespace) -> int:
    """Quality-check video files with the pipeline's own stages: a JSON verdict per file, a line on stdout."""
    from talkhead.stages.qc_files import run_qc

    params = args.params or ("params.yaml" if Path("params.yaml").is_file() else None)
    _use_threads(args.threads)
    run_qc([Path(f) for f in args.videos], Path(args.out), load_params(params), keep=args.keep)
    return 0


def _blendshapes(args: argparse.Namespace) -> int:
    """Audio → 52 ARKit blendshapes per frame (CSV) with a trained V3 Face model or its ONNX export."""
    from talkhead.config import V3faceExportConfig
    from talkhead.export.crisp import crisp_offline
    from talkhead.infer import v3face
    from talkhead.media.probe import MediaError

    if bool(args.audio) == bool(args.text):
        raise ConfigError("talkhead blendshapes: give exactly one of --audio FILE or --text \"...\"")
    model, onnx = _blendshapes_source(args.model, args.onnx)
    out_csv = _output_file(args.out, "blendshapes")
    emotion = _emotion(args, "blendshapes", weights=True)
    _use_threads(args.threads)
    try:
        if args.text:
            from talkhead.infer.generate import speech, speech_mel

            mel_rows, frames = speech_mel(*speech(None, args.text, args.voice))
        else:
            mel_rows, frames = v3face.audio_mel(args.audio)
    except (MediaError, ValueError, OSError) as exc:
        log.error("%s", exc)
        return 1
    if onnx:
        out = v3face.predict_onnx(onnx, mel_rows, emotion)
        if args.crisp:
            log.warning("--crisp is ignored with --onnx: the graph applies its streaming crisp_mouth itself")
    else:
        out = v3face.predict_model(model, mel_rows, emotion)
        if args.crisp:
            d = V3faceExportConfig.from_dict({})
            out = crisp_offline(out, d.crisp_sigma if args.crisp_sigma is None else args.crisp_sigma,
                                d.crisp_threshold if args.crisp_threshold is None else args.crisp_threshold,
                                d.crisp_scale if args.crisp_scale is None else args.crisp_scale)
    out = v3face.resample(out, args.fps)
    v3face.write_csv(out_csv, out, args.fps)
    sys.stdout.write(f"{args.out}: {len(out)} frames at {args.fps} fps ({frames / 25:.2f} s)\n")
    return 0


def _emotion(args: argparse.Namespace, command: str, weights: bool) -> str | dict[str, float]:
    """--emotion as the command uses it: a label as given, or with `auto` the emotion MicroAlbert reads in the
    spoken text (--text, or --transcript of an --audio file): weights over the eight labels when the model takes
    a mix (V3 Face's cond), else the nearest label (the motion DiT); ConfigError without a text or model."""
    label = args.emotion.strip().lower()
    if label != "auto":
        return label
    text = args.text or args.transcript
    if not text:
        raise ConfigError(f"talkhead {command}: --emotion auto reads the emotion from the spoken text; with --audio "
                          "give --transcript \"...\" (or use --text)")
    from talkhead.infer.vad import DEFAULT_MODEL, VadPredictor, emotion_label, emotion_weights

    try:
        predictor = VadPredictor(args.vad_model or DEFAULT_MODEL)
        vad = predictor.vad(text)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"talkhead {command}: --emotion auto: {exc}") from None
    mix, label = emotion_weights(vad, predictor.calibration), emotion_label(vad, predictor.calibration)
    top = ", ".join(f"{k} {v:.2f}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1])[:3])
    log.info("--emotion auto: valence %.3f, arousal %.3f, dominance %.3f → %s (%s)", vad["valence"], vad["arousal"],
             vad["dominance"], label, top)
    return mix if weights else label


def _vad(args: argparse.Namespace) -> int:
    """Text → valence, arousal, dominance in [0, 1] with the trained MicroAlbert: one JSON line on stdout."""
    import json

    from talkhead.infer.vad import DEFAULT_MODEL, VadPredictor, emotion_label

    if not args.text.strip():
        raise ConfigError("talkhead vad: --text is empty")
    try:
        predictor = VadPredictor(args.model or DEFAULT_MODEL, threads=args.threads or 1)
    except FileNotFoundError as exc:
        raise ConfigError(f"talkhead vad: {exc}") from None
    vad = predictor.vad(args.text)
    log.info("nearest emotion: %s (teacher the student was distilled from: %s)",
             emotion_label(vad, predictor.calibration), predictor.teacher)
    sys.stdout.write(json.dumps(vad) + "\n")
    return 0


def _blendshapes_source(model: str, onnx: str) -> tuple[Path | None, Path | None]:
    """(model folder, None) or (None, ONNX file) for `talkhead blendshapes`, both checked to exist; with
    neither given, the model `make demo` trains (v3face.DEFAULT_MODEL); ConfigError otherwise."""
    from talkhead.infer.v3face import DEFAULT_MODEL

    if model and onnx:
        raise ConfigError("talkhead blendshapes: give one of --model DIR or --onnx FILE, not both")
    if onnx:
        if not Path(onnx).is_file() or not (Path(onnx).parent / "export.json").is_file():
            raise ConfigError(f"talkhead blendshapes: --onnx {onnx}: no exported graph there (a .onnx file with "
                              "its export.json beside it)")
        return None, Path(onnx)
    folder = Path(model or DEFAULT_MODEL)
    if not (folder / "config.json").is_file():
        hint = "run `make demo`, or give --model DIR or --onnx FILE" if not model else "a trained V3 Face folder"
        raise ConfigError(f"talkhead blendshapes: no trained V3 Face model in {folder}"
                          f"{' (the default)' if not model else ''}; {hint}")
    return folder, None


def _generate(args: argparse.Namespace) -> int:
    """A portrait speaks: an image + speech (audio file or --text) → an mp4 with the audio, at 25 fps."""
    from talkhead.infer.generate import GenerateRequest, check_text, generate_video, summary_line
    from talkhead.media.probe import MediaError
    from talkhead.render import MultipleFacesError, NoFaceError

    if bool(args.audio) == bool(args.text):
        raise ConfigError("talkhead generate: give exactly one of --audio FILE or --text \"...\"")
    if args.text:
        try:
            check_text(args.text)
        except ValueError as exc:
            raise ConfigError(f"talkhead generate: {exc}") from None
    out = _output_file(args.out, "generate")
    lo, hi = MAX_SIZE_RANGE
    if not lo <= args.max_size <= hi:
        raise ConfigError(f"talkhead generate: --max-size must be between {lo} and {hi} pixels, got {args.max_size}")
    if args.model_kind == "gaussians":
        return _generate_gaussians(args)
    if not args.image:
        raise ConfigError("talkhead generate: --image is required with --model-kind motion_dit")
    if not Path(args.image).is_file():
        log.error("%s: no such image file", args.image)
        return 1
    options = _renderer_options(args)
    emotion = _emotion(args, "generate", weights=False)
    _use_threads(args.threads)
    request = GenerateRequest(Path(args.image), out, Path(args.audio) if args.audio else None,
                              args.text or None, Path(args.model or "data/models/motion_dit"), args.voice,
                              emotion, args.cfg_scale, args.seed,
                              args.renderer, args.max_size, args.mouth, options)
    try:
        summary = generate_video(request)
    except (NoFaceError, MultipleFacesError, MediaError, FileNotFoundError, ValueError, RuntimeError) as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.write(f"{args.out}: {summary_line(summary)}\n")
    return 0


def _renderer_options(args: argparse.Namespace) -> dict:
    """The chosen renderer's keyword options from the command line; ConfigError when they do not fit it."""
    if args.renderer != "liveportrait":
        if args.liveportrait_dir:
            raise ConfigError("talkhead generate: --liveportrait-dir is for --renderer liveportrait")
        return {}
    if not args.liveportrait_dir:
        raise ConfigError("talkhead generate: --renderer liveportrait needs --liveportrait-dir DIR, a folder of "
                          "LivePortrait's official weights (base_models/*.pth, retargeting_models/*.pth)")
    if not Path(args.liveportrait_dir).is_dir():
        raise ConfigError(f"talkhead generate: --liveportrait-dir {args.liveportrait_dir}: no such folder")
    return {"directory": Path(args.liveportrait_dir), "device": args.device}


def _generate_gaussians(args: argparse.Namespace) -> int:
    """`generate --model-kind gaussians`: a trained speaker's Gaussian head speaks the audio (no portrait)."""
    from talkhead.gaussians.render import generate
    from talkhead.infer.generate import speech
    from talkhead.media.probe import MediaError

    if not args.model:
        raise ConfigError("talkhead generate --model-kind gaussians: give --model data/models/gaussians/<speaker>")
    _use_threads(args.threads)
    try:
        samples, rate = speech(Path(args.audio) if args.audio else None, args.text or None, args.voice)
        s = generate(args.model, samples, rate, args.out, args.pose_track or None, args.device)
    except (MediaError, FileNotFoundError, ValueError, RuntimeError) as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.write(f"{args.out}: {s['frames']} frames ({s['video_s']:.2f} s) at {s['size'][0]} px, speaker "
                     f"{s['speaker']}, {s['render_fps']:.1f} frames/s end to end\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talkhead", description=__doc__)
    parser.add_argument("--version", action="version", version=f"talkhead {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo-data", help=_demo_data.__doc__, description=_demo_data.__doc__)
    demo.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    demo.add_argument("--params", default=None,
                      help="params file whose `demo` section to use (default: schema defaults)")
    demo.add_argument("--seconds", type=float, help="clip length in seconds")
    demo.add_argument("--size", type=int, help="frame width and height in pixels")
    demo.add_argument("--seed", type=int, help="random seed")
    demo.add_argument("--speakers", type=int, help="number of speakers")
    demo.add_argument("--clips-per-speaker", type=int, help="speaking clips per speaker")
    demo.add_argument("--no-negatives", action="store_true", help="skip the clips the gate must reject")
    demo.set_defaults(func=_demo_data)

    qc = sub.add_parser("qc", help=_qc.__doc__, description=_qc.__doc__)
    qc.add_argument("videos", nargs="+", help="video files")
    qc.add_argument("--out", required=True,
                    help="folder for the reports: <file name>.json each (+ a path hash when two inputs share a name)")
    qc.add_argument("--params", default=None,
                    help="params file (default: ./params.yaml if present, else schema defaults)")
    qc.add_argument("--keep", action="store_true", help="keep the intermediate stage folders in OUT/.work")
    _add_threads(qc)
    qc.set_defaults(func=_qc)

    bs = sub.add_parser("blendshapes", help=_blendshapes.__doc__, description=_blendshapes.__doc__)
    bs.add_argument("--audio", default="", help="audio (or video) file: any format, rate and channel count")
    bs.add_argument("--text", default="", help="text to speak offline (espeak-ng) instead of --audio")
    bs.add_argument("--voice", default="en-us", help="espeak-ng voice for --text")
    bs.add_argument("--out", required=True, help="CSV file: frame, time_s and the 52 ARKit names")
    bs.add_argument("--model", default="", help="a trained model folder (default: data/models/v3face/expression, "
                    "what `make demo` trains)")
    bs.add_argument("--onnx", default="", help="an exported graph instead of --model, e.g. "
                    "data/export/v3face/v3face.onnx")
    bs.add_argument("--fps", type=int, default=25, choices=(25, 30, 60), help="output frame rate (default 25)")
    _add_emotion(bs)
    bs.add_argument("--crisp", action="store_true", help="apply the offline crisp_mouth filter (with --model)")
    bs.add_argument("--crisp-threshold", type=float, help="gate threshold, fraction of the peak (default 0.25)")
    bs.add_argument("--crisp-scale", type=float, help="gain after the gate (default 1.0)")
    bs.add_argument("--crisp-sigma", type=float, help="Gaussian pre-smoothing in frames (default 1.0)")
    _add_threads(bs)
    bs.set_defaults(func=_blendshapes)

    gen = sub.add_parser("generate", help=_generate.__doc__, description=_generate.__doc__)
    gen.add_argument("--model-kind", default="motion_dit", choices=("motion_dit", "gaussians"),
                     help="motion_dit: a portrait + the motion DiT; gaussians: a trained per-speaker Gaussian head")
    gen.add_argument("--image", default="", help="portrait with one face (motion_dit only): any format, any size")
    speech = gen.add_mutually_exclusive_group(required=True)
    speech.add_argument("--audio", default="", help="speech: any audio (or video) file FFmpeg reads")
    speech.add_argument("--text", default="", help="text to speak offline (espeak-ng) and drive the face with")
    gen.add_argument("--out", required=True, help="output .mp4 (H.264 + AAC, 25 fps)")
    gen.add_argument("--model", default="", help="trained model folder (default data/models/motion_dit; for "
                     "gaussians a speaker's data/models/gaussians/<speaker> folder, required)")
    gen.add_argument("--pose-track", default="", help="gaussians: a head_pose.safetensors to move the head with "
                     "(default: the training reference clip, looped)")
    gen.add_argument("--device", default="cpu", help="torch device of gaussians (cuda renders with gsplat) and of "
                     "the liveportrait renderer (cuda computes in float16; the CPU takes seconds a frame)")
    _add_emotion(gen)
    gen.add_argument("--cfg-scale", type=float, default=None, help="guidance scale (default: the model's, 1.2)")
    gen.add_argument("--seed", type=int, default=0, help="random seed of the sampler")
    gen.add_argument("--voice", default="en-us", help="espeak-ng voice for --text")
    gen.add_argument("--renderer", default="mesh_warp", help="renderer name (talkhead.render.RENDERERS): mesh_warp "
                     "(offline, no weights) or liveportrait (LivePortrait's networks, needs --liveportrait-dir)")
    gen.add_argument("--liveportrait-dir", default="", help="--renderer liveportrait: a folder of LivePortrait's "
                     "official weights in the release layout (base_models/, retargeting_models/)")
    gen.add_argument("--max-size", type=int, default=1920, help="motion_dit: the video's long side in pixels at most "
                     "(default 1920); a larger portrait is downscaled to it, even sides")
    gen.add_argument("--mouth", default="auto", help="motion_dit: what moves the mouth: auto (V3 Face's lipsync "
                     "model in data/models/v3face/lipsync when it is there), none (the motion DiT alone) or a V3 Face "
                     "model folder")
    _add_threads(gen)
    gen.set_defaults(func=_generate)

    vad = sub.add_parser("vad", help=_vad.__doc__, description=_vad.__doc__)
    vad.add_argument("--text", required=True, help="the text (a sentence or a few)")
    vad.add_argument("--model", default="", help="a MicroAlbert folder or its exported .onnx (default: "
                     "data/models/microalbert, what `make demo` trains)")
    _add_threads(vad)
    vad.set_defaults(func=_vad)
    return parser


def _add_emotion(parser: argparse.ArgumentParser) -> None:
    """--emotion (a label or auto), --transcript and --vad-model."""
    parser.add_argument("--emotion", default="none", help="emotion label (MoDA's eight classes or none), or auto: "
                        "read from the spoken text by MicroAlbert (docs/microalbert.md)")
    parser.add_argument("--transcript", default="", help="with --audio and --emotion auto: what the audio says")
    parser.add_argument("--vad-model", default="", help="MicroAlbert folder or .onnx for --emotion auto (default "
                        "data/models/microalbert)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `talkhead` console script."""
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.func(args)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
