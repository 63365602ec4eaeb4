"""Stage `shard`: run one per-clip phase over every clip of one shard, in one process.

    python -m talkhead.stages.shard normalize --manifest data/demo/manifest.csv --shard shard00000 \
        --shard-size 200 --data data --index data/normalize/_shards/shard00000.csv --cfg '{…}'

A shard job writes exactly the per-clip outputs the per-clip stage writes (`<data>/<phase>/<clip>/`,
each folder atomic, with its `status.json` and reason codes) and then the shard's index,
`<data>/<phase>/_shards/<shard>.csv` (clip, ok, reasons, and the digest of the clip's folder: the
index changes whenever a clip's outputs do), which is the job's declared output.
Interpreter start, imports and model loading are paid once per shard instead of once per clip.

Resume at clip granularity: after a clip's folder is in place the job writes its completion record
`.done.json` into it: a fingerprint of the phase's params and the completion records of the upstream
phases it read; ingest's holds the clip's manifest row (and, for a local source, its size and
modification time), so a changed row reaches every later phase through that chain.
A rerun skips every clip whose record matches and redoes the rest, so a job killed mid-shard redoes
only its unfinished clips, and a changed upstream clip or param redoes only what it touches. The
records hold no times or paths, so a resumed run's files are byte-identical to an uninterrupted one.

One clip that raises does not stop the shard: its folder gets a status with reason `stage_error`
(the message names the exception; the log has the traceback) and no completion record, so the next
run of the shard tries it again. The job exits 0 once every clip has a record.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from talkhead.atomic import atomic_dir, write_json, write_text
from talkhead.config import ConfigError
from talkhead.data.manifest import ManifestRow, read_manifest, resolve_local_source
from talkhead.data.shards import INDEX_COLUMNS, folder_digest, rows_text, shard_members
from talkhead.data.status import STATUS_FILE, ClipStatus, read_status
from talkhead.stages.common import run_stage, stage_parser
from talkhead.stages.shard_phases import PHASES, ClipInputs, ShardPhase

log = logging.getLogger(__name__)

DONE_FILE = ".done.json"
KILL_AFTER_ENV = "TALKHEAD_SHARD_KILL_AFTER"  # tests: SIGKILL this process after N clips are finished


@dataclass
class ShardResult:
    """What one shard job did: clip → status, and which clips it ran, skipped as done, or saw fail."""

    statuses: dict[str, ClipStatus]
    ran: list[str]
    skipped: list[str]
    errors: list[str]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_state(row: ManifestRow, manifest: Path) -> list | None:
    """[size, mtime_ns] of a local source (None for remote ones or a missing file)."""
    if row.source_kind() != "local":
        return None
    try:
        st = resolve_local_source(row, manifest).stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def folder_record(folder: Path) -> str | None:
    """The digest of a clip folder's completion record (its status when it has none; None when neither exists)."""
    record = folder / DONE_FILE if (folder / DONE_FILE).is_file() else folder / STATUS_FILE
    return _digest(record.read_bytes()) if record.is_file() else None


# Batch sizes of the networks (GPU throughput): a value other than its default is part of a completion fingerprint
# (a batched result equals a one-at-a-time one to float rounding, not bit for bit); the default is left out, so
# the records written before these params existed still match.
BATCH_DEFAULTS = {"batch_clips": 1, "batch_probes": 1, "syncnet_batch": 20}


def fingerprinted_params(cfg_json: str) -> dict:
    """A phase's or step's params as its completion fingerprint holds them (BATCH_DEFAULTS left out)."""
    cfg = json.loads(cfg_json)
    return {k: v for k, v in cfg.items() if not (k in BATCH_DEFAULTS and v == BATCH_DEFAULTS[k])}


def fingerprint(phase: ShardPhase, inputs: ClipInputs, cfg_json: str) -> str:
    """The completion fingerprint of one clip of `phase`: its params and upstream completion records (ingest: the
    row)."""
    upstream = {name: folder_record(inputs.folder(name)) for name in phase.upstream}
    payload = {"phase": phase.name, "cfg": fingerprinted_params(cfg_json), "upstream": upstream}
    if not phase.upstream:  # ingest reads the manifest row and the source; later phases see them through its record
        payload |= {"row": inputs.row.__dict__, "source_state": _source_state(inputs.row, inputs.manifest)}
    return _digest(json.dumps(payload, sort_keys=True, default=str).encode())


def is_done(out: Path, fp: str) -> bool:
    """True when `out` holds a finished clip whose completion record carries fingerprint `fp`."""
    try:
        return json.loads((out / DONE_FILE).read_text(encoding="utf-8")).get("fingerprint") == fp
    except (OSError, ValueError):
        return False


def _record_error(clip: str, phase: str, out: Path, exc: BaseException) -> ClipStatus:
    """A status with reason stage_error in `out` (atomic), so downstream phases pass the clip on."""
    status = ClipStatus(clip, phase, False, ["stage_error"], f"{phase} failed: {type(exc).__name__}: {exc}",
                        {"rejected_at": phase})
    with atomic_dir(out) as tmp:
        status.write(tmp)
    return status


def _index_text(statuses: dict[str, ClipStatus], phase_dir: Path) -> str:
    return rows_text(({"clip": clip, "ok": int(st.ok), "reasons": "|".join(st.reasons),
                       "digest": folder_digest(phase_dir / clip)} for clip, st in statuses.items()), INDEX_COLUMNS)


def run_shard(phase: ShardPhase, rows: Sequence[ManifestRow], manifest: Path, data: Path, cfg_json: str,
              index: Path | None = None) -> ShardResult:
    """Run `phase` on every clip of `rows` (one shard) that is not already done; write the shard's index."""
    cfg = phase.config.from_json(cfg_json)
    canonical = cfg.to_json()
    result = ShardResult({}, [], [], [])
    kill_after = int(os.environ.get(KILL_AFTER_ENV, "0") or 0)
    for n, row in enumerate(rows, 1):
        clip = row.clip_id
        inputs = ClipInputs(row, manifest, data)
        out = inputs.folder(phase.name)
        fp = fingerprint(phase, inputs, canonical)
        if is_done(out, fp):
            result.statuses[clip] = read_status(out)
            result.skipped.append(clip)
            continue
        started = time.perf_counter()
        try:
            status = phase.run(inputs, out, cfg)
        except Exception as exc:  # one clip's failure is recorded; the shard goes on
            log.exception("%s %s: failed", phase.name, clip)
            status = _record_error(clip, phase.name, out, exc)
            result.errors.append(clip)
        else:
            write_json(out / DONE_FILE, {"fingerprint": fp})
            result.ran.append(clip)
        result.statuses[clip] = status
        verdict = "ok" if status.ok else "rejected (" + ", ".join(status.reasons) + ")"
        log.info("[%d/%d] %s %s: %s in %.2f s", n, len(rows), phase.name, clip, verdict,
                 time.perf_counter() - started)
        if kill_after and len(result.ran) + len(result.errors) >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    if index is not None:
        write_text(index, _index_text(result.statuses, Path(data) / phase.name))
    return result


def _main(args: argparse.Namespace) -> str:
    phase = PHASES[args.phase]
    rows = read_manifest(args.manifest)
    by_id = [r.clip_id for r in rows]
    try:
        members = set(shard_members(by_id, args.shard_size, args.shard))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    shard_rows = [r for r in rows if r.clip_id in members]
    started = time.perf_counter()
    result = run_shard(phase, shard_rows, Path(args.manifest), Path(args.data), args.cfg,
                       Path(args.index) if args.index else None)
    ok = sum(s.ok for s in result.statuses.values())
    return (f"{phase.name} {args.shard}: {len(shard_rows)} clips ({ok} ok) — {len(result.ran)} run, "
            f"{len(result.skipped)} already done, {len(result.errors)} failed — {time.perf_counter() - started:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.shard PHASE --manifest CSV --shard NAME --shard-size N [--data DIR]
    [--index CSV]."""
    parser = stage_parser("talkhead.stages.shard", __doc__.splitlines()[0])
    parser.add_argument("phase", choices=sorted(PHASES), help="the per-clip phase to run")
    parser.add_argument("--manifest", required=True, help="manifest CSV")
    parser.add_argument("--shard", required=True, help="shard name, e.g. shard00000 (talkhead.data.shards)")
    parser.add_argument("--shard-size", type=int, required=True, help="dataset.shard_size")
    parser.add_argument("--data", default="data", help="data root holding <phase>/<clip>/ folders")
    parser.add_argument("--index", default="", help="where to write the shard's index CSV")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
