"""The mouth driver of `talkhead generate`: V3 Face's lipsync branch moves the generated face's mouth.

The motion DiT generates all 70 motion values; with a driver, its mouth dims (lips, cheeks, jaw:
talkhead.models.mouth_map.MOUTH_DIMS) are replaced before lip modulation by the source face's own
plus the mapped deviation of V3 Face's lipsync blendshapes from those it predicts on silence:

    speech log-mel (4T, 80) → V3 Face lipsync → b (T, 52) → (b − b_rest) · W → (T, 33) raw mouth deltas

W is the map the motion DiT's training fitted (`mouth_map.safetensors` in its folder), b_rest the
mean of V3 Face's output on `REST_S` seconds of digital silence. Both models read the same log-mel.

Recordings come at any gain, and a quiet one moves a model's mouth less (video-retalking's
audio_1, 7–10 dB below the other recordings: jawOpen std 0.024 against 0.04–0.055). So the driver
first brings the speech to the training speech's level (`speech_level`, the 95th percentile of the
per-frame log mel power, recorded in the map at training): a gain is a constant added to the
log-mel, bounded to ±MAX_GAIN_DB. The video keeps the recording's own audio.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from talkhead.features import mel
from talkhead.models.mouth_map import MAP_FILE, load_mouth_map, mouth_delta

log = logging.getLogger(__name__)

LIPSYNC_BESIDE = Path("v3face/lipsync")  # "auto": beside the motion model, as `make demo` trains them (data/models/)
REST_S = 1.0  # seconds of silence whose mean prediction is the mouth at rest
MAX_GAIN_DB = 20.0  # the most a recording's level is raised or lowered to the training speech's
FPS = 25


@dataclass(frozen=True)
class MouthDriver:
    """A loaded V3 Face model, the mouth map and the blendshapes at rest."""

    model: torch.nn.Module  # talkhead.models.v3face.V3Face
    weight: np.ndarray  # (31, 33)
    rest: np.ndarray  # (52,)
    level: float | None = None  # the training speech's level (talkhead.features.mel.speech_level); None: as it is

    def level_shift(self, mel_rows: np.ndarray) -> float:
        """What to add to a recording's log-mel to bring it to the training speech's level (a gain g adds 2·ln g),
        within ±MAX_GAIN_DB; 0 without a recorded level."""
        if self.level is None:
            return 0.0
        bound = MAX_GAIN_DB / 10 * np.log(10)  # dB of power → natural-log units
        return float(np.clip(self.level - mel.speech_level(mel_rows), -bound, bound))

    def blendshapes(self, mel_rows: np.ndarray) -> np.ndarray:
        """(4T, 80) log-mel → (T, 52) V3 Face blendshapes of the speech at the training level (one offline pass,
        no emotion)."""
        from talkhead.infer.v3face import run_model

        shifted = np.asarray(mel_rows, np.float32) + np.float32(self.level_shift(mel_rows))
        return run_model(self.model, torch.from_numpy(np.ascontiguousarray(shifted)))

    def delta(self, mel_rows: np.ndarray) -> np.ndarray:
        """(4T, 80) log-mel → (T, 33) raw deviation of the mouth dims from the source face."""
        return mouth_delta(self.blendshapes(mel_rows), self.rest, self.weight)


def rest_blendshapes(model: torch.nn.Module) -> np.ndarray:
    """(52,) mean V3 Face output on REST_S seconds of silence: the mouth at rest."""
    from talkhead.infer.v3face import run_model

    frames = int(REST_S * FPS)
    silence = mel.log_mel(np.zeros(int(REST_S * mel.SAMPLE_RATE), np.float32), frames)  # (4·frames, 80)
    return run_model(model, torch.from_numpy(silence)).mean(0)


def load_driver(choice: str, motion_dir: Path) -> MouthDriver | None:
    """The driver `--mouth` asks for: "none" → None; "auto" → the V3 Face lipsync model beside the motion model
    (data/models/v3face/lipsync for data/models/motion_dit) when it and the motion model's map are there, else
    None with a warning; a folder → that model (FileNotFoundError / ValueError)."""
    if choice == "none":
        return None
    auto = choice == "auto"
    lipsync = Path(motion_dir).parent / LIPSYNC_BESIDE if auto else Path(choice)
    map_path = Path(motion_dir) / MAP_FILE
    if not map_path.is_file():
        if auto:
            log.warning("%s has no %s (trained before the mouth driver): the mouth moves with the motion DiT "
                        "alone; retrain it to drive the mouth from V3 Face", motion_dir, MAP_FILE)
            return None
        raise FileNotFoundError(f"{motion_dir}: no {MAP_FILE} to drive the mouth with (retrain the motion model)")
    if not (lipsync / "config.json").is_file():
        if auto:
            log.warning("no V3 Face model in %s: the mouth moves with the motion DiT alone (train one with `make "
                        "demo`, or pass --mouth DIR)", lipsync)
            return None
        raise FileNotFoundError(f"{lipsync}: no trained V3 Face model there (--mouth takes a V3 Face folder, "
                                "auto or none)")
    meta = json.loads((lipsync / "config.json").read_text(encoding="utf-8"))
    if meta.get("audio") != "audio_mel":
        raise ValueError(f"{lipsync}: the V3 Face model reads {meta.get('audio')}; the mouth driver computes "
                         "log-mel only")
    from talkhead.models.v3face import load_model

    model = load_model(lipsync)
    model.eval()
    log.info("mouth driven by V3 Face (%s) through %s", lipsync, map_path)
    fitted = load_mouth_map(map_path)
    level = float(fitted["speech_level"][0]) if "speech_level" in fitted else None
    return MouthDriver(model, fitted["weight"], rest_blendshapes(model), level)
