"""The per-clip phases a shard job can run: what each reads, its params section, and its clip function.

Each phase's clip function is the library function its per-clip stage CLI (talkhead.stages.<phase>) also
calls (talkhead.data.ingest, quality.normalize, faces.find, faces.crop_pass, quality.clip), so a clip
processed inside a shard gets exactly the files it gets on its own. Clip folders follow
the design card's layout, `<data>/<phase>/<clip>/`; `upstream` names the phases whose folders of
the same clip a phase reads (their completion records feed its fingerprint, talkhead.stages.shard).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from talkhead.config import CropConfig, FacesConfig, IngestConfig, NormalizeConfig, QualityConfig, SectionConfig
from talkhead.data.manifest import ManifestRow
from talkhead.data.status import ClipStatus


@dataclass(frozen=True)
class ClipInputs:
    """What a clip function gets: the clip's manifest row, the manifest path and its phase folders."""

    row: ManifestRow
    manifest: Path
    data: Path  # the data root: <data>/<phase>/<clip>/

    def folder(self, phase: str) -> Path:
        """The clip's folder of `phase`."""
        return self.data / phase / self.row.clip_id


@dataclass(frozen=True)
class ShardPhase:
    """One per-clip phase as a shard job runs it."""

    name: str
    upstream: tuple[str, ...]
    config: type[SectionConfig]
    run: Callable[[ClipInputs, Path, SectionConfig], ClipStatus]  # (inputs, out folder, cfg) → status


def _ingest(c: ClipInputs, out: Path, cfg) -> ClipStatus:
    from talkhead.data.ingest import ingest_clip

    return ingest_clip(c.row, c.manifest, out, cfg)


def _normalize(c: ClipInputs, out: Path, cfg) -> ClipStatus:
    from talkhead.quality.normalize import normalize_clip

    return normalize_clip(c.folder("ingest"), out, cfg)


def _faces(c: ClipInputs, out: Path, cfg) -> ClipStatus:
    from talkhead.faces.find import faces_clip

    return faces_clip(c.folder("normalize"), out, cfg)


def _crop(c: ClipInputs, out: Path, cfg) -> ClipStatus:
    from talkhead.faces.crop_pass import crop_clip

    return crop_clip(c.folder("faces"), c.folder("normalize"), out, cfg)


def _quality(c: ClipInputs, out: Path, cfg) -> ClipStatus:
    from talkhead.quality.clip import quality_clip

    return quality_clip(c.folder("normalize"), c.folder("faces"), c.folder("crop"), out, cfg)


PHASES: dict[str, ShardPhase] = {p.name: p for p in (
    ShardPhase("ingest", (), IngestConfig, _ingest),
    ShardPhase("normalize", ("ingest",), NormalizeConfig, _normalize),
    ShardPhase("faces", ("normalize",), FacesConfig, _faces),
    ShardPhase("crop", ("faces", "normalize"), CropConfig, _crop),
    ShardPhase("quality", ("normalize", "faces", "crop"), QualityConfig, _quality),
)}
