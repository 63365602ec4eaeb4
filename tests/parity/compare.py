"""talkhead's side of the metric parity tests, shared by the tests and benchmarks/parity_report.py.

Each function below runs talkhead on the inputs of one fixture in tests/fixtures/parity/ (written by
benchmarks/parity/*.py from the reference implementation) and returns a `Parity`: every compared quantity as
a (talkhead, reference) pair with the relative difference its test bounds, the values that must be equal,
and facts about the fixture. The tests (tests/unit/eval/test_*parity*.py) assert that nothing fails; the
report writes each pair's max abs / max rel difference to benchmarks/results/parity.json, from which
docs/evaluation.md's parity table is generated, so the documented differences are the tested ones.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkhead.eval.feature_nets import STYLEGANV_I3D_KWARGS, embed, fid_inception, fvd_clips, fvd_videos
from talkhead.eval.feature_nets import load_feature_net
from talkhead.eval.frechet import feature_stats
from talkhead.eval.mfcc import syncnet_mfcc
from talkhead.eval.sync import score_syncnet, sync_scores, syncnet_embeddings
from talkhead.models.syncnet import SyncNetOfficial
from tests.parity.seeded import fill_seeded

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "parity"
REAL_SPEECH = (Path(os.environ.get("TALKHEAD_REAL_FIXTURES", REPO.parent / "shared" / "fixtures" / "real"))
               / "audio" / "LatentSync__demo1_audio.wav")  # 16 kHz mono; absent outside this project's machines
RTOL = 1e-4  # float32 networks on both sides (the same torch CPU kernels)
MFCC_SIGNALS = ("noise", "chirp", "silence_gaps", "short", "odd_tail")


def elementwise(ours: Any, ref: Any) -> float:
    """max |ours − ref| / |ref| over the elements (|ref| floored at 1e-12)."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-12)))


def of_largest(ours: Any, ref: Any) -> float:
    """max |ours − ref| / max |ref|: relative to the reference's largest magnitude."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


def of_row_range(ours: Any, ref: Any) -> float:
    """max over rows of max |ours − ref| / max |ref| in the row: each MFCC cepstrum against its own range (float32
    rounding is relative to it)."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float((np.abs(ours - ref).max(axis=1) / np.abs(ref).max(axis=1)).max())


@dataclass(frozen=True)
class Pair:
    """A compared quantity: talkhead's value, the reference's, and how the test measures their relative
    difference."""

    ours: Any
    ref: Any
    relative: Callable[[Any, Any], float]

    @property
    def max_abs(self) -> float:
        return float(np.max(np.abs(np.asarray(self.ours, np.float64) - np.asarray(self.ref, np.float64))))

    @property
    def max_rel(self) -> float:
        return self.relative(self.ours, self.ref)


@dataclass
class Parity:
    """One parity comparison: `pairs` (name → Pair), `equal` (name → (talkhead's, the expected) values that must
    be equal) and `facts` about the fixture (its reference, sizes) for the report."""

    pairs: dict[str, Pair] = field(default_factory=dict)
    equal: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def failures(self, rtol: float = RTOL) -> list[str]:
        """What differs: unequal values, pairs of different shapes, pairs further apart than `rtol`."""
        out = [f"{k}: {a!r} != {b!r}" for k, (a, b) in self.equal.items() if a != b]
        for k, p in self.pairs.items():
            if np.shape(p.ours) != np.shape(p.ref):
                out.append(f"{k}: shape {np.shape(p.ours)} != {np.shape(p.ref)}")
            elif not p.max_rel < rtol:
                out.append(f"{k}: relative difference {p.max_rel:.3g} >= {rtol:g}")
        return out


def fixture_script(name: str):
    """benchmarks/parity/<name>.py as a module: the fixture script's seeded inputs."""
    spec = importlib.util.spec_from_file_location(f"{name}_parity", REPO / "benchmarks" / "parity" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def syncnet_pipeline() -> Parity:
    """syncnet_python's `evaluate()` on seeded SyncNet weights against talkhead's SyncNetOfficial under the same
    weights: the per-window distance table, the mean curve, Sync-D, Sync-C and the offset."""
    ref = np.load(FIXTURES / "syncnet.npz")
    torch.manual_seed(0)
    model = SyncNetOfficial()
    keys = "".join(f"{k}{tuple(v.shape)}" for k, v in sorted(model.state_dict().items()))
    fill_seeded(model, int(ref["seed"]))
    frames, samples = ref["frames"], ref["samples"]
    with torch.inference_mode():
        video, audio = syncnet_embeddings(model, frames, samples)
    dists = np.linalg.norm(video[:, None, :] - np.concatenate(  # calc_pdist's table (N, 31): zero-padded audio
        [np.zeros((15, audio.shape[1])), audio, np.zeros((15, audio.shape[1]))])[
        np.arange(len(audio))[:, None] + np.arange(31)[None, :]], axis=-1)
    result = score_syncnet(model, frames, samples, max_offset=int(ref["vshift"]))
    return Parity(
        pairs={"table": Pair(dists, ref["dists"], elementwise), "curve": Pair(result.curve, ref["mdist"], elementwise),
               "sync_d": Pair(result.sync_d, float(ref["minval"]), elementwise),
               "sync_c": Pair(result.sync_c, float(ref["conf"]), elementwise)},
        # same state-dict names and shapes; syncnet_python prints vshift − argmin, talkhead + = audio late
        equal={"state_keys_sha256": (hashlib.sha256(keys.encode()).hexdigest(), str(ref["state_keys_sha256"])),
               "offset": (result.av_offset, -int(ref["offset"])), "windows": (result.windows, len(ref["dists"]))},
        facts={"reference": str(ref["reference"]), "table_shape": list(ref["dists"].shape),
               "offset_talkhead": result.av_offset, "offset_reference": int(ref["offset"]),
               "curve_min": float(ref["minval"]), "sync_c": float(ref["conf"])})


def syncnet_offset_sign() -> Parity:
    """syncnet_python's `evaluate()` whose forward passes returned chosen embeddings (audio 3 frames late) against
    talkhead's `sync_scores` on them: an interior minimum and the offset's sign."""
    ref = np.load(FIXTURES / "syncnet.npz")
    result = sync_scores(ref["syn_video"], ref["syn_audio"], max_offset=int(ref["vshift"]))
    return Parity(
        pairs={"curve": Pair(result.curve, ref["syn_mdist"], elementwise),
               "sync_d": Pair(result.sync_d, float(ref["syn_minval"]), elementwise),
               "sync_c": Pair(result.sync_c, float(ref["syn_conf"]), elementwise)},
        equal={"offset": (result.av_offset, int(ref["syn_shift"])),  # + = audio late in talkhead
               "offset_reference": (result.av_offset, -int(ref["syn_offset"]))},
        facts={"reference": str(ref["reference"]), "shift": int(ref["syn_shift"]),
               "offset_talkhead": result.av_offset, "offset_reference": int(ref["syn_offset"])})


def mfcc_signal(kind: str) -> np.ndarray:
    """A synthetic int16 16 kHz test signal for the MFCC comparison (MFCC_SIGNALS)."""
    rng = np.random.default_rng(7)
    t = np.arange(16000) / 16000
    if kind == "noise":
        x = 8000 * rng.standard_normal(16000)
    elif kind == "chirp":
        x = 12000 * np.sin(2 * np.pi * (80 * t + 3000 * t ** 2))
    elif kind == "silence_gaps":  # exact zeros: the eps branches (zero energy, empty filters)
        x = 6000 * rng.standard_normal(16000)
        x[2000:6000] = 0
    elif kind == "short":  # fewer samples than one 400-sample frame: one zero-padded frame
        x = 5000 * rng.standard_normal(300)
    elif kind == "odd_tail":  # a length that leaves a partial last frame
        x = 3000 * np.sin(2 * np.pi * 220 * np.arange(12345) / 16000) + 500 * rng.standard_normal(12345)
    else:
        raise ValueError(kind)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def mfcc(samples: np.ndarray, reference_input: np.ndarray) -> Parity:
    """talkhead's syncnet_mfcc of `samples` against python_speech_features.mfcc (live) of the int16 values
    syncnet_python reads (`reference_input`), stacked as its `zip(*mfcc(audio, 16000))`: all 13 × F
    coefficients, each cepstrum relative to its range."""
    from python_speech_features import mfcc as psf_mfcc

    ours = syncnet_mfcc(samples)
    ref = np.stack([np.array(i) for i in zip(*psf_mfcc(reference_input, 16000))])
    return Parity(pairs={"coefficients": Pair(ours, ref, of_row_range)}, equal={"dtype": (str(ours.dtype), "float32")},
                  facts={"samples": len(reference_input)})


def mfcc_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name → (talkhead's input, the reference's int16 input) of every MFCC comparison the tests make: the
    synthetic signals, float input in [−1, 1), and the real 16 kHz speech recording when it is present."""
    cases = {kind: (mfcc_signal(kind), mfcc_signal(kind)) for kind in MFCC_SIGNALS}
    noise = mfcc_signal("noise")
    cases["float_input"] = (noise.astype(np.float32) / 32768.0, noise)  # scaled by 32768: the same int16 values
    if REAL_SPEECH.is_file():
        cases["speech"] = (real_speech(),) * 2
    return cases


def real_speech() -> np.ndarray:
    """REAL_SPEECH's int16 samples (16 kHz mono)."""
    import soundfile as sf

    samples, rate = sf.read(REAL_SPEECH, dtype="int16")
    if rate != 16000 or samples.ndim != 1:
        raise ValueError(f"{REAL_SPEECH}: {rate} Hz, {samples.ndim} channel axis; want 16 kHz mono")
    return samples


def mfcc_fixture() -> Parity:
    """talkhead's MFCC of the Sync-C/D fixture's audio against the MFCC syncnet_python's environment computed."""
    ref = np.load(FIXTURES / "syncnet.npz")
    ours = syncnet_mfcc(ref["samples"])
    return Parity(pairs={"coefficients": Pair(ours, ref["mfcc"], of_row_range)},
                  facts={"samples": len(ref["samples"])})


def fvd(protocol: str) -> Parity:
    """StyleGAN-V's `compute_fvd` (with the I3D stand-in) against talkhead's FVD on the fixture script's seeded
    videos under `protocol`: each side's feature mean and covariance (1/N) and the FVD."""
    ref, script = np.load(FIXTURES / f"fvd_{protocol}.npz"), fixture_script("fvd")
    real, fake = script.videos(protocol, "real"), script.videos(protocol, "fake")
    net = load_feature_net(FIXTURES / "fvd_i3d_standin.pt", "i3d", input_range="native",
                           call_kwargs=STYLEGANV_I3D_KWARGS)
    clips = [torch.cat([fvd_clips(v, protocol) for v in side]) for side in (real, fake)]
    out = Parity(equal={"real_sha256": (script.videos_sha256(real), str(ref["real_sha256"])),
                        "fake_sha256": (script.videos_sha256(fake), str(ref["fake_sha256"])),
                        "net_sha256": (net.sha256, str(ref["net_sha256"])),
                        "clips": ([len(c) for c in clips], [int(ref["clips_real"]), int(ref["clips_fake"])])},
                 facts={"reference": str(ref["reference"]), "clips_per_side": int(ref["clips_real"])})
    for c, name in zip(clips, ("real", "fake")):
        mu, sigma = feature_stats(embed(net, c, 8), ddof=0)
        out.pairs[f"mu_{name}"] = Pair(mu, ref[f"mu_{name}"], of_largest)
        out.pairs[f"sigma_{name}"] = Pair(sigma, ref[f"sigma_{name}"], of_largest)
    out.pairs["fvd"] = Pair(fvd_videos(real, fake, net, protocol), float(ref["fvd"]), of_largest)
    return out


def fid() -> Parity:
    """pytorch-fid's activation statistics and Fréchet distance (with the Inception stand-in) against talkhead's
    FID on the fixture's images: each side's mean and covariance (1/(N−1)) and the FID."""
    ref = np.load(FIXTURES / "fid.npz")
    net = load_feature_net(FIXTURES / "fid_inception_standin.pt", "inception", input_range="unit")
    real, fake = (torch.from_numpy(ref[k]).permute(0, 3, 1, 2) for k in ("real", "fake"))  # (N, 3, H, W) uint8
    out = Parity(equal={"net_sha256": (net.sha256, str(ref["net_sha256"]))},
                 facts={"reference": str(ref["reference"]), "images_per_side": len(real)})
    for x, name in ((real, "real"), (fake, "fake")):
        mu, sigma = feature_stats(embed(net, x, 16))
        out.pairs[f"mu_{name}"] = Pair(mu, ref[f"mu_{name}"], of_largest)
        out.pairs[f"sigma_{name}"] = Pair(sigma, ref[f"sigma_{name}"], of_largest)
    out.pairs["fid"] = Pair(fid_inception(real, fake, net, batch_size=16), float(ref["fid"]), of_largest)
    return out
