"""DualForce inference: a reference frame + speech → video latents of any length → frames through the VAE → mp4.

Generation is sliding-window diffusion forcing (talkhead.models.video_df_forcing.generate): window W
and stride S from the model's training params, a per-frame σ schedule (pyramid lag), classifier-free
guidance on audio, and the KV cache of the frames still inside the window — so the length is bounded
by the audio only, never by the training window. The first frame is the reference itself; the
structure tower generates the 70-d motion alongside (returned denormalised). Latents are decoded by
the pipeline's video VAE (talkhead.models.video_vae, decoded in chunks with its causal temporal context)
and written with the speech as H.264/AAC (talkhead.media.encode).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from talkhead.models.video_df import DFCond, DualForce
from talkhead.models.video_df_forcing import SampleSettings, generate
from talkhead.models.video_vae import VideoVAE

log = logging.getLogger(__name__)

FPS = 25


def settings_for(meta: dict, cfg_scale: float | None = None) -> SampleSettings:
    """The model's own sliding-window settings (config.json), optionally with another guidance scale."""
    return SampleSettings(window=int(meta["window"]), stride=int(meta["stride"]), steps=int(meta["sample_steps"]),
                          lag=int(meta["sample_lag"]), shift=float(meta["time_shift"]),
                          cfg_scale=float(meta["cfg_scale"] if cfg_scale is None else cfg_scale))


def extend_audio(audio: np.ndarray, rows_per_frame: int, frames: int) -> np.ndarray:
    """Audio features (rows·T, …) repeated end to end (whole frames) until they cover `frames` frames."""
    have = len(audio) // rows_per_frame
    if have < 1:
        raise ValueError(f"audio of {len(audio)} rows holds no whole frame ({rows_per_frame} rows per frame)")
    reps = -(-frames // have)
    return np.concatenate([audio[:have * rows_per_frame]] * reps)[:frames * rows_per_frame]


def extend_samples(samples: np.ndarray, rate: int, frames: int) -> np.ndarray:
    """Waveform samples repeated end to end to last exactly `frames` video frames."""
    need = int(round(frames * rate / FPS))
    if len(samples) == 0:
        raise ValueError("empty audio")
    return np.resize(np.asarray(samples, np.float32), need)


@torch.no_grad()
def generate_latents(model: DualForce, meta: dict, stats: dict[str, np.ndarray], ref_latent: np.ndarray,
                     ref_motion: np.ndarray, audio: np.ndarray, frames: int, seed: int = 0,
                     cfg_scale: float | None = None, use_cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(latents (frames, C, h, w), raw motion (frames, 70)) from the first-frame latent (C, h, w), its raw motion
    (70,) and audio features covering the frames ((rows·frames, D) or (rows·frames, L, D))."""
    rows = int(meta["audio_rows"])
    if len(audio) < rows * frames:
        raise ValueError(f"audio has {len(audio)} rows, {rows * frames} needed for {frames} frames")
    mean, std = torch.from_numpy(stats["mean"]), torch.from_numpy(stats["std"])
    dev = next(model.parameters()).device
    ref_s = ((torch.from_numpy(np.asarray(ref_motion, np.float32)) - mean) / std)[None]
    cond = DFCond(torch.from_numpy(np.asarray(ref_latent, np.float32))[None].to(dev), ref_s.to(dev),
                  torch.from_numpy(np.asarray(audio[:rows * frames], np.float32))[None].to(dev))
    g = torch.Generator().manual_seed(int(seed))
    latents, residual = generate(model, cond, frames, settings_for(meta, cfg_scale), g, use_cache,
                                 first_struct=torch.zeros_like(cond.ref_struct))  # the structure: residual to ref
    return latents[0].cpu().numpy(), ((residual[0].cpu() + ref_s) * std + mean).numpy()


class KLDecoder:
    """The decoder of a diffusers AutoencoderKL (an image VAE, e.g. Stable Diffusion's): frames decode one by one.

    The inverse of talkhead.features.video_latents.AutoencoderKLEncoder: latents / scaling + shift → decode.
    """

    def __init__(self, vae: torch.nn.Module) -> None:
        self.vae = vae.eval()
        self.scaling_factor = float(vae.config.scaling_factor)
        self.shift_factor = float(getattr(vae.config, "shift_factor", None) or 0.0)

    @torch.no_grad()
    def decode_frames(self, latents: np.ndarray, chunk: int = 16) -> np.ndarray:
        """Scaled latents (N, C, h, w) → uint8 frames (N, S, S, 3)."""
        dev = next(self.vae.parameters()).device
        z = torch.from_numpy(np.asarray(latents, np.float32)) / self.scaling_factor + self.shift_factor
        out = []
        for s in range(0, len(z), chunk):
            x = self.vae.decode(z[s:s + chunk].to(dev)).sample  # (n, 3, S, S) in [-1, 1]
            out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
        return np.concatenate(out)


def load_vae(vae_dir: str | Path, device: str = "cpu") -> VideoVAE | KLDecoder:
    """The decoder of the latents' VAE, in eval mode: the pipeline's trained video VAE (a folder with its
    model.safetensors, data/models/video_vae) or a diffusers AutoencoderKL save_pretrained folder (the
    `autoencoder_kl` backend of video_latents: its `checkpoint`, or that folder's `vae/` subfolder)."""
    from talkhead.features.video_latents import autoencoder_kl_folder
    from talkhead.models.video_vae import MODEL_FORMAT
    from talkhead.models.checkpoint import read_checkpoint
    from talkhead.models.video_vae import VideoVAESpec

    if not (Path(vae_dir) / "model.safetensors").is_file():
        # ConfigError naming the path when it is no AutoencoderKL folder either
        folder = autoencoder_kl_folder(str(vae_dir))
        from diffusers import AutoencoderKL

        return KLDecoder(AutoencoderKL.from_pretrained(str(folder), local_files_only=True).to(device))
    meta, state, _ = read_checkpoint(vae_dir, "model.safetensors", MODEL_FORMAT, "a trained video VAE")
    vae = VideoVAE(VideoVAESpec.from_dict(meta["spec"]))
    vae.load_state_dict(state, strict=True)
    return vae.to(device).eval()


@torch.no_grad()
def decode_latents(vae: VideoVAE | KLDecoder, latents: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Scaled latents (N, C, h, w) → uint8 frames (N, S, S, 3), `chunk` frames at a time with the decoder's context."""
    if isinstance(vae, KLDecoder):
        return vae.decode_frames(latents)
    z = torch.from_numpy(np.asarray(latents, np.float32)) / vae.scaling_factor.cpu()  # undo the latent scaling
    dev = vae.scaling_factor.device
    context = vae.temporal_context
    out = []
    for s in range(0, len(z), chunk):
        lo = max(0, s - context)  # earlier frames the causal temporal mixing of the decoder reads
        x = vae.decode(z[lo:s + chunk][None].to(dev))[0, s - lo:]  # (n, 3, S, S) in [-1, 1]
        out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out)


def write_mp4(frames: np.ndarray, samples: np.ndarray | None, rate: int | None, out: str | Path) -> dict:
    """uint8 frames (N, S, S, 3) (+ mono speech) → an H.264/AAC mp4 at 25 fps; a summary."""
    from talkhead.media.encode import VideoWriter

    size = frames.shape[2], frames.shape[1]
    with VideoWriter(out, FPS, size, audio_rate=rate if samples is not None else None) as writer:
        for frame in frames:
            writer.write_frame(frame)
        if samples is not None:
            writer.write_audio(np.asarray(samples, np.float32))
    return {"frames": int(len(frames)), "video_s": len(frames) / FPS, "size": int(size[0]),
            "audio_s": None if samples is None else len(samples) / rate, "out": str(out)}


def generate_clip_video(model: DualForce, meta: dict, stats: dict[str, np.ndarray], vae: VideoVAE, clip_file: Path,
                        frames: int, out: Path, samples: np.ndarray | None = None, rate: int | None = None,
                        seed: int = 0, audio: np.ndarray | None = None, cfg_scale: float | None = None) -> dict:
    """A packed clip's first frame (and its audio, repeated to `frames` when shorter, unless `audio` features are
    given) → `frames` generated frames → an mp4 with `samples` as its sound (silent without)."""
    from talkhead.data.featurefile import read_features
    from talkhead.vocab import AUDIO_KEYS

    key = AUDIO_KEYS[meta["audio"]]
    tensors, _ = read_features(clip_file, keys=[key, "video_latents/clip_first_frame", "motion/motion"])
    audio = extend_audio(tensors[key] if audio is None else audio, int(meta["audio_rows"]), frames)
    latents, motion = generate_latents(model, meta, stats, tensors["video_latents/clip_first_frame"],
                                       tensors["motion/motion"][0], audio, frames, seed, cfg_scale)
    video = decode_latents(vae, latents)
    wav = None if samples is None else extend_samples(samples, rate, frames)
    summary = write_mp4(video, wav, rate, out)
    log.info("dualforce: %d frames (training window %s) from %s → %s", frames, meta["window"], clip_file.name, out)
    return summary | {"window": int(meta["window"]), "latents": latents, "motion": motion, "video": video}


def main(argv: list[str] | None = None) -> int:
    """CLI: python -m talkhead.infer.dualforce --model DIR --vae DIR --clip PACKED [--audio FILE] [--frames N]
    --out MP4."""
    import argparse
    import json

    from talkhead.logs import setup_logging
    from talkhead.models.video_df import load_model

    parser = argparse.ArgumentParser(prog="talkhead.infer.dualforce", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="data/models/dualforce")
    parser.add_argument("--vae", required=True, help="data/models/video_vae")
    parser.add_argument("--clip", required=True, help="a packed clip (data/dataset/clips/<clip>.safetensors): "
                                                      "its first frame is the reference")
    parser.add_argument("--audio", default="", help="speech (any format) to drive it; default: the clip's own audio")
    parser.add_argument("--frames", type=int, default=0, help="frames to generate (default: the audio's length)")
    parser.add_argument("--cfg-scale", type=float, default=None, help="guidance on audio (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="the mp4 to write")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    model, meta, stats = load_model(args.model)
    samples = rate = features = None
    if args.audio:
        from talkhead.infer.generate import speech, speech_mel

        if meta["audio"] != "audio_mel":
            raise SystemExit(f"{args.model}: the model reads {meta['audio']}; --audio computes log-mel only")
        samples, rate = speech(Path(args.audio), None)
        features, audio_frames = speech_mel(samples, rate)
    else:
        from talkhead.data.featurefile import read_features

        audio_frames = int(read_features(args.clip, keys=["segments"])[1]["frames"])
    frames = args.frames or audio_frames
    s = generate_clip_video(model, meta, stats, load_vae(args.vae), Path(args.clip), frames, Path(args.out),
                            samples, rate, args.seed, features, args.cfg_scale)
    log.info("%s", json.dumps({k: s[k] for k in ("frames", "video_s", "audio_s", "size", "window", "out")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
