"""The standard A/V-offset gate: the published SyncNet weights, when the user has them.

Offset and confidence are SyncNet's own (`talkhead.eval.sync.score_syncnet`: the syncnet_python
offset search, confidence = median − min of the mean distance curve) on the stable face crop and
the clip's audio. The rule most data pipelines apply is LatentSync's (Li et al. 2024,
https://arxiv.org/abs/2412.09262, data processing): keep a clip whose confidence is at least 3 and
whose |offset| is at most 6 frames, after shifting its audio to offset zero; the thresholds are
params (`quality.syncnet_min_confidence`, `quality.syncnet_max_offset`). Every output of this path
is named `*_syncnet`, as everywhere in talkhead.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
SYNCNET_SIDE = 224  # SyncNet's input size: frames are decoded straight to it


@lru_cache(maxsize=2)
def _model(path: str, device: str):
    from talkhead.models.syncnet import load_syncnet

    return load_syncnet(path, device)


def measure_syncnet(crop_video: Path, samples: np.ndarray, fps: int, weights: str, device: str = "cpu",
                    max_lag: int = 15, batch: int = 20) -> dict[str, float | int]:
    """{av_offset_syncnet, av_confidence_syncnet, sync_d_syncnet} of a face-crop video and its 16 kHz audio
    (`batch` five-frame windows per forward pass)."""
    from talkhead.eval.sync import score_syncnet
    from talkhead.media.decode import iter_frames_cfr

    if fps != 25:
        raise ValueError(f"SyncNet is defined on 25 fps video (4 MFCC rows a frame); normalize.fps is {fps}")
    frames = np.stack(list(iter_frames_cfr(crop_video, fps, max_side=SYNCNET_SIDE)))  # (T, 224, 224, 3)
    result = score_syncnet(_model(str(Path(weights).expanduser()), device), frames, samples, max_lag, batch)
    return {"av_offset_syncnet": int(result.av_offset), "av_confidence_syncnet": round(float(result.sync_c), 4),
            "sync_d_syncnet": round(float(result.sync_d), 4)}
