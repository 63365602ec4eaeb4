"""Which speakers the train_gaussians phase trains, for the workflow (no torch import: Snakemake loads it at
parse time).

`gaussians.speakers` when set, else the speaker of the first accepted train-split clip by clip id, so
a CI run on the demo trains exactly one. The stage's own default (talkhead.gaussians.data.pick_speakers,
from the packed dataset's metadata) makes the same choice when it is called without --speaker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from talkhead.data.manifest import speaker_key


def rule_speakers(chosen: Sequence[str], clips: Sequence[str], speaker_of: Mapping[str, str],
                  split_of: Mapping[str, str]) -> list[str]:
    """The speakers the workflow trains: `chosen`, else the speaker of the first accepted train-split clip (by id)."""
    if chosen:
        return list(chosen)
    if not clips:
        raise ValueError("gaussians: no accepted clip to train a speaker on")
    ordered = sorted(clips)
    return [speaker_of[([c for c in ordered if split_of[c] == "train"] or ordered)[0]]]


def speaker_files(accepted: Callable[[], list[str]], rows: Mapping, splits: Mapping[str, str], chosen: Sequence[str],
                  name: str) -> Callable:
    """A Snakemake input function: data/models/gaussians/<speaker key>/<name> of every speaker to train.

    `accepted` is the workflow's accepted-clips function (it waits for the quality gate), `rows` the
    manifest rows by clip id (with `.speaker`), `splits` each clip's split."""

    def files(wildcards) -> list[str]:
        speakers = rule_speakers(chosen, accepted(), {c: r.speaker for c, r in rows.items()}, splits)
        return [f"data/models/gaussians/{speaker_key(s)}/{name}" for s in speakers]

    return files
