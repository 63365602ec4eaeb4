"""Speaker-disjoint splits: no speaker's clips in more than one of train / val / test.

`manifest`: keep the manifest's split column, and refuse (naming the speakers) a manifest where a
speaker appears in two splits — silently moving clips would change what a user evaluates on.
`speakers`: ignore the column and assign whole speakers by a stable hash of the speaker id, so
adding speakers never moves the existing ones.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from talkhead.config import ConfigError


class SplitError(ConfigError):
    """A split assignment that would leak a speaker across splits."""


def _unit(speaker: str, seed: int) -> float:
    """A stable number in [0, 1) for a speaker id."""
    digest = hashlib.sha256(f"{seed}:{speaker}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(table: pd.DataFrame, policy: str, val_fraction: float, test_fraction: float,
                  seed: int) -> pd.Series:
    """The split of every row of `table` (columns speaker, split), speaker-disjoint."""
    if policy == "manifest":
        spans = table.groupby("speaker")["split"].nunique()
        leaking = sorted(spans[spans > 1].index)
        if leaking:
            raise SplitError(f"speakers in more than one split: {', '.join(leaking[:10])}"
                             f"{' …' if len(leaking) > 10 else ''} — fix the manifest's split column or set "
                             "dataset.split_policy: speakers")
        return table["split"].copy()
    if policy != "speakers":
        raise ValueError(f"unknown split policy {policy!r} (manifest or speakers)")
    units = table["speaker"].map(lambda s: _unit(str(s), seed))
    return units.map(lambda u: "test" if u < test_fraction else "val" if u < test_fraction + val_fraction
                     else "train").rename("split")


def manifest_splits(rows, policy: str, val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """clip id → split for manifest rows (objects with clip_id, speaker, split), as the dataset stage assigns them.

    The same assignment as `assign_splits` on the packed clips (it depends only on each row's
    speaker and split), available before any clip is processed: the rules that learn from the
    training split (motion statistics, the 3DMM basis, the video autoencoder) use it.
    """
    rows = list(rows)
    table = pd.DataFrame({"speaker": [r.speaker for r in rows], "split": [r.split for r in rows]})
    if not rows:
        return {}
    return dict(zip([r.clip_id for r in rows], assign_splits(table, policy, val_fraction, test_fraction, seed)))
