"""The Snakemake pipeline over a manifest of every real fixture video: it completes, the gate's tables
match expected.csv, the HTML report is written, and the run continues with the accepted clips only."""

from __future__ import annotations

import csv
import re

import pytest
import yaml

from tests.workflow.helpers import REPO, snakemake

pytestmark = [pytest.mark.realdata, pytest.mark.workflow]


def _clip_id(rel: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", rel.rsplit("/", 1)[-1][:-4])


def test_pipeline_over_the_real_clips(real_media, tmp_path):
    rows = list(csv.DictReader((real_media / "expected.csv").open()))
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["clip_id", "source", "start", "end", "speaker", "split"])
        for i, row in enumerate(rows):
            writer.writerow([_clip_id(row["file"]), str(real_media / row["file"]), 0, "", f"spk{i}", "train"])
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dataset"]["manifest"] = str(manifest)
    params["crop"].update(size=128, preset="ultrafast")  # the gate's measures do not depend on the crop size
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    snakemake(tmp_path, "--profile", str(REPO / "workflow/profiles/default"), "--cores", "2", "all", timeout=1200)

    accepted = {r["clip"] for r in csv.DictReader((tmp_path / "data/qc/accepted.csv").open())}
    rejected = {r["clip"]: set(r["reasons"].split("|")) for r in csv.DictReader((tmp_path / "data/qc/rejected.csv").open())}
    assert len(accepted) + len(rejected) == len(rows)
    for row in rows:
        clip = _clip_id(row["file"])
        allowed = set(filter(None, row["reasons_allowed"].split("|")))
        if row["verdict"] == "accept":
            assert clip in accepted, (clip, rejected.get(clip))
        elif row["verdict"] == "reject":
            assert clip in rejected and rejected[clip] <= allowed, (clip, rejected.get(clip), allowed)
        elif clip in rejected:
            assert rejected[clip] <= allowed, (clip, rejected[clip], allowed)
    assert (tmp_path / "data/qc/report/index.html").is_file()
    segments = {r["clip"] for r in csv.DictReader((tmp_path / "data/qc/segments.csv").open())}
    assert segments == accepted, "only accepted clips go on"
