"""The training dataset: a random temporal window, cut at the same time in every modality, per clip.

Reads data/dataset/metadata.parquet and the packed clip files it lists. Item i is clip i of the
split: a window of `window` video frames is drawn inside one of the clip's segments (so it never
spans a scene cut), and every modality is cut at that time — face modalities rows [t0, t0 + W),
audio modalities rows [k·t0, k·(t0 + W)) with k rows per video frame (4 for log-mel, 2 for
HuBERT); per-clip tensors (`<modality>/clip_*`, e.g. `video_latents/clip_first_frame`) come
whole. The reference image (the crop's first frame) comes with every item. Draws are a
function of (seed, epoch, index) only, so they do not depend on worker count or order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from talkhead.config import ConfigError
from talkhead.data.featurefile import read_features
from talkhead.vocab import ROWS_PER_FRAME


class WindowDataset(Dataset):
    """Aligned temporal windows of packed clips; `keys` like ["audio_mel/mel", "face_mesh/points"]."""

    def __init__(self, metadata: str | Path, split: str, window: int, keys: Sequence[str], seed: int = 0) -> None:
        metadata = Path(metadata)
        table = pd.read_parquet(metadata)
        self.root = metadata.parent
        self.clips = table[(table["split"] == split) & (table["max_segment"] >= window)].reset_index(drop=True)
        self.window, self.keys, self.seed, self.epoch = int(window), list(keys), int(seed), 0

    def __len__(self) -> int:
        return len(self.clips)

    def feature_stats(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-dimension mean and std (float32, shape of one row) of `key` over every row of every clip here."""
        total, sq, count = 0.0, 0.0, 0
        for file in self.clips["file"]:
            tensors, _ = read_features(self.root / file, keys=[key])
            a = torch.from_numpy(tensors[key]).double()  # (rows, D) or (rows, L, D)
            total, sq, count = total + a.sum(0), sq + (a * a).sum(0), count + a.shape[0]
        mean = total / count
        return mean.float(), (sq / count - mean * mean).clamp_min(0).sqrt().float()

    def set_epoch(self, epoch: int) -> None:
        """Draw new windows (call once per epoch, as with DistributedSampler)."""
        self.epoch = int(epoch)

    def _start(self, index: int, segments: np.ndarray) -> int:
        """The window's first video frame, drawn among segments long enough for it."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        usable = segments[(segments[:, 1] - segments[:, 0]) >= self.window]
        lengths = usable[:, 1] - usable[:, 0] - self.window + 1  # possible starts per segment
        k = rng.choice(len(usable), p=lengths / lengths.sum())
        return int(usable[k, 0] + rng.integers(lengths[k]))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str | int]:
        row = self.clips.iloc[index]
        tensors, _ = read_features(self.root / row["file"], keys=[*self.keys, "segments", "reference/image"])
        t0 = self._start(index, tensors["segments"])
        item: dict[str, torch.Tensor | str | int] = {"clip": row["clip"], "start": t0}
        for key in self.keys:
            modality, name = key.split("/", 1)
            if name.startswith("clip_"):  # a per-clip tensor (e.g. the first-frame latent): whole
                item[key] = torch.from_numpy(np.ascontiguousarray(tensors[key]))
                continue
            k = ROWS_PER_FRAME.get(modality, 1)
            item[key] = torch.from_numpy(np.ascontiguousarray(tensors[key][k * t0:k * (t0 + self.window)]))
        item["reference/image"] = torch.from_numpy(tensors["reference/image"])
        return item


def collate(items: list[dict]) -> dict[str, torch.Tensor | list]:
    """Stack tensors along a new batch axis; strings and ints become lists."""
    return {k: (torch.stack([it[k] for it in items]) if isinstance(items[0][k], torch.Tensor)
                else [it[k] for it in items])
            for k in items[0]}


def train_val(metadata: str | Path, window: int, keys: Sequence[str], seed: int,
              setting: str) -> tuple[WindowDataset, WindowDataset, str]:
    """(train, val, the val split's name) windows of a packed dataset; with no val clip long enough, the train
    clips stand in for validation ("train (no val clips)", recorded in metrics). ConfigError naming `setting`
    (the params key that set `window`) when no train clip has a segment of `window` frames."""
    train = WindowDataset(metadata, "train", window, keys, seed)
    if len(train) == 0:
        raise ConfigError(f"{metadata}: no train clip has a {window}-frame segment ({setting})")
    val = WindowDataset(metadata, "val", window, keys, seed)
    if len(val):
        return train, val, "val"
    return train, WindowDataset(metadata, "train", window, keys, seed), "train (no val clips)"


def val_picks(clips: int, draws: int, batch_size: int) -> list[list[tuple[int, int]]]:
    """The fixed validation batches: `draws` windows (epochs 0..draws-1) of every clip, as (clip, draw) pairs."""
    picks = [(i, d) for i in range(clips) for d in range(draws)]
    return [picks[s:s + batch_size] for s in range(0, len(picks), batch_size)]
