"""The funnel: how many clips of the manifest came through each phase, overall, per split and per speaker.

A clip counts for a phase when that phase's shard index (data/<phase>/_shards/<shard>.csv) lists it
with ok = 1; accepted is the gate's verdict (data/qc/measures.csv). Splits are the ones the dataset
stage assigns (talkhead.data.splits.manifest_splits) when the dataset params are given, otherwise the
manifest's split column. Hours: the accepted clips' duration, and their speech (duration × the
measured speech fraction).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from talkhead.data.shards import SHARDS_DIR

PHASES = ("ingest", "normalize", "faces", "crop")  # the per-clip phases before the gate, in order
# faces_searched: the face phase ran (it succeeds with zero faces); face_cropped: a face was found and cropped
STAGES = ("manifest", "ingested", "normalized", "faces_searched", "face_cropped", "measured", "accepted")


def ok_clips(phase_dir: str | Path) -> set[str]:
    """The clips a phase's shard indices list as done (ok = 1); an absent phase has none."""
    done: set[str] = set()
    for index in sorted((Path(phase_dir) / SHARDS_DIR).glob("*.csv")):
        with index.open(newline="", encoding="utf-8") as fh:
            done.update(row["clip"] for row in csv.DictReader(fh) if row.get("ok") == "1")
    return done


def clip_stages(clips: Iterable[str], data: str | Path, measures: pd.DataFrame) -> pd.DataFrame:
    """One row per manifest clip, one boolean column per funnel stage (STAGES)."""
    clips = list(clips)
    table = pd.DataFrame({"clip": clips, "manifest": True})
    for phase, stage in zip(PHASES, STAGES[1:5]):
        done = ok_clips(Path(data) / phase)
        table[stage] = table["clip"].isin(done)
    measured = set(measures["clip"])
    accepted = set(measures.loc[measures["verdict"] == "accept", "clip"])
    table["measured"] = table["clip"].isin(measured)
    table["accepted"] = table["clip"].isin(accepted)
    return table


def funnel_table(stages: pd.DataFrame, groups: Mapping[str, Mapping[str, str]], measures: pd.DataFrame) -> pd.DataFrame:
    """Counts per stage for all clips and for every value of each grouping (e.g. split, speaker).

    `groups`: grouping name → {clip: value}. Columns: group, value, the STAGES counts, accepted_hours,
    speech_hours. The first row is group 'all'.
    """
    accepted = measures[measures["verdict"] == "accept"].set_index("clip")
    duration = pd.to_numeric(accepted["duration_s"], errors="coerce").fillna(0.0)
    speech = duration * pd.to_numeric(accepted["speech_fraction"], errors="coerce").fillna(0.0)
    frame = stages.copy()
    frame["accepted_hours"] = frame["clip"].map(duration).fillna(0.0) / 3600.0
    frame["speech_hours"] = frame["clip"].map(speech).fillna(0.0) / 3600.0
    columns = [*STAGES, "accepted_hours", "speech_hours"]
    rows = [{"group": "all", "value": "", **frame[columns].sum().to_dict()}]
    for name, mapping in groups.items():
        keys = frame["clip"].map(lambda c, m=mapping: m.get(c) or "(none)")
        summed = frame[columns].groupby(keys, sort=True).sum()
        rows += [{"group": name, "value": value, **row} for value, row in summed.to_dict("index").items()]
    table = pd.DataFrame.from_records(rows, columns=["group", "value", *columns])
    table[list(STAGES)] = table[list(STAGES)].astype(int)
    return table
