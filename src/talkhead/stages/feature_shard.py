"""Stage `feature_shard`: run one post-gate job (a group of per-clip steps) over the accepted clips of one shard.

    python -m talkhead.stages.feature_shard features --clips data/qc/_shards/shard00000.csv --data data \
        --index data/features/_shards/shard00000.csv --modalities audio_mel,face_mesh,... --cfg '{"audio_mel": {…}, …}'

The clip list is the gate's per-shard accepted list (`data/qc/_shards/<shard>.csv`) or the index of
the previous job of the same shard; both have the columns clip, ok, reasons, digest, speaker, split,
emotion and only rows with ok = 1 are run. The job writes each step's file exactly as the per-clip
stage writes it (talkhead.stages.feature_steps), then its index with the same columns (`digest`: of
this job's step files of the clip), so the next job of the shard reads it: `features` →
data/features/_shards/<shard>.csv, `learned` → data/features/_shards/<shard>.learned.csv, `pack` →
data/dataset/_shards/<shard>.csv.

Resume at clip granularity, as before the gate (talkhead.stages.shard): after a step's file is in
place its completion record `.<name>.done.json` goes beside it, holding a fingerprint of the step's
params, the completion records of what it read (the crop and quality folders, the clip's other
step files) and the digest of the shared file it used (3DMM basis, video VAE, the speaker's
calibration). A rerun skips every step whose record matches. A step that raises marks its clip
`stage_error` in the index (the log has the traceback), the clip's later steps are skipped, and
the shard goes on; the next run tries the clip again. (Tests: TALKHEAD_SHARD_KILL_AFTER=N makes the
job SIGKILL itself after N steps, between two steps of a clip.)

A step with a batched form (a network: audio_hubert, video_latents) whose `batch_clips` is above 1 runs on
fixed batches: consecutive chunks of that many ok clips of the list, done or not, so a rerun forms the same
batches. A batch whose records all match is skipped; otherwise it is encoded whole and only its unfinished
clips are written, so a killed job's rerun writes the bytes of an uninterrupted one. A batch that raises is run
again clip by clip, so one bad clip is still recorded alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from talkhead.atomic import write_json, write_text
from talkhead.config import LiveportraitConfig, SectionConfig
from talkhead.data.shards import LIST_COLUMNS, files_digest, read_rows, rows_text
from talkhead.stages.common import run_stage, stage_parser
from talkhead.stages.feature_steps import GROUPS, PHASE_FOLDERS, STEPS, ClipEntry, FeatureStep, StepContext
from talkhead.stages.shard import DONE_FILE, KILL_AFTER_ENV, _digest, fingerprinted_params, folder_record

log = logging.getLogger(__name__)



@dataclass
class GroupResult:
    """What one post-gate job did: every listed clip's row for the index, and which clips ran, were skipped or
    failed."""

    rows: list[dict[str, str]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    steps_run: int = 0
    steps_skipped: int = 0


def record_path(output: Path) -> Path:
    """The completion record of a step's output file: `.<stem>.done.json` beside it."""
    return output.parent / f".{output.name.removesuffix('.safetensors')}{DONE_FILE}"


class _Digests:
    """Digests of files and folders read by a job, each computed once per job."""

    def __init__(self) -> None:
        self._memo: dict[Path, str | None] = {}

    def __call__(self, path: Path | None) -> str | None:
        if path is None:
            return None
        if path not in self._memo:
            if path.is_dir():
                h = hashlib.sha256()
                for f in sorted(p for p in path.rglob("*") if p.is_file()):
                    h.update(str(f.relative_to(path)).encode() + b"\0" + f.read_bytes())
                self._memo[path] = h.hexdigest()
            else:
                self._memo[path] = _digest(path.read_bytes()) if path.is_file() else None
        return self._memo[path]


def step_fingerprint(step: FeatureStep, ctx: StepContext, entry: ClipEntry, cfg_json: str, reads: Sequence[str],
                     digests: _Digests) -> str:
    """The completion fingerprint of one clip's step: params (batch sizes at their default left out, as
    `shard.fingerprint`), the records of what it read, the shared file it used."""
    upstream = {}
    for name in reads:
        if name in PHASE_FOLDERS:
            upstream[name] = folder_record(ctx.folder(name, entry.clip))
        else:
            rec = record_path(STEPS[name].output(ctx, entry.clip))
            upstream[name] = _digest(rec.read_bytes()) if rec.is_file() else None
    payload = {"step": step.name, "cfg": fingerprinted_params(cfg_json), "upstream": upstream,
               "shared": {n: digests(ctx.shared_path(n, entry)) for n in step.shared}}
    if step.name == "pack":
        payload["entry"] = entry.__dict__
    return _digest(json.dumps(payload, sort_keys=True, default=str).encode())


def _is_done(output: Path, fp: str) -> bool:
    try:
        return output.is_file() and json.loads(record_path(output).read_text(encoding="utf-8"))["fingerprint"] == fp
    except (OSError, ValueError, KeyError):
        return False


@dataclass
class _ClipState:
    """One clip's outcome in a job: whether a step ran, and the failure that stopped its steps ("" if none)."""

    ran: bool = False
    failed: str = ""


@dataclass
class _Job:
    """What running one step of one clip, or of a batch of clips, needs from run_group."""

    group: str
    ctx: StepContext
    canon: dict[str, str]  # step name → its params as canonical JSON
    cfgs: dict[str, SectionConfig | None]
    modalities: Sequence[str]
    digests: _Digests
    result: GroupResult
    kill_after: int

    def output(self, step: FeatureStep, entry: ClipEntry) -> tuple[Path, str]:
        """(the step's file of the clip, its completion fingerprint)."""
        reads = step.reads + (tuple(self.modalities) if step.name == "pack" else ())
        return step.output(self.ctx, entry.clip), step_fingerprint(step, self.ctx, entry, self.canon[step.name],
                                                                  reads, self.digests)

    def finished(self, out: Path, fp: str, state: _ClipState) -> None:
        write_json(record_path(out), {"fingerprint": fp})
        state.ran, self.result.steps_run = True, self.result.steps_run + 1
        if self.kill_after and self.result.steps_run >= self.kill_after:  # tests: a job killed between two steps
            os.kill(os.getpid(), signal.SIGKILL)

    def run_one(self, step: FeatureStep, entry: ClipEntry, state: _ClipState) -> None:
        """Run one clip's step unless its record matches; a failure is recorded in `state`."""
        out, fp = self.output(step, entry)
        if _is_done(out, fp):
            self.result.steps_skipped += 1
            return
        try:
            step.run(self.ctx, entry, out, self.cfgs[step.name])
        except Exception as exc:  # one clip's failure is recorded; the shard goes on
            log.exception("%s %s: %s failed", self.group, entry.clip, step.name)
            state.failed = f"{step.name} failed: {type(exc).__name__}: {exc}"
            return
        self.finished(out, fp, state)

    def run_batch(self, step: FeatureStep, entries: Sequence[ClipEntry], states: dict[str, _ClipState]) -> None:
        """Run a step on a fixed batch: skipped when every clip's record matches, else encoded whole and written
        for the clips not done (so a rerun writes what an uninterrupted job writes). If the batch raises, its
        clips run one by one, so a bad clip is recorded and the others go on."""
        live = [e for e in entries if not states[e.clip].failed]  # a clip whose earlier step failed sits out
        outputs = [self.output(step, e) for e in live]  # [(out, fp)]
        todo = [not _is_done(out, fp) for out, fp in outputs]
        self.result.steps_skipped += todo.count(False)
        if not any(todo):
            return
        try:
            step.run_batch(self.ctx, live, [out if t else None for (out, _), t in zip(outputs, todo)],
                           self.cfgs[step.name])
        except Exception:
            log.warning("%s: %s failed on the batch %s; running its clips one by one", self.group, step.name,
                        ",".join(e.clip for e in live), exc_info=True)
            for entry, t in zip(live, todo):
                if t:
                    self.run_one(step, entry, states[entry.clip])
            return
        for entry, (out, fp), t in zip(live, outputs, todo):
            if t:
                self.finished(out, fp, states[entry.clip])


def run_group(group: str, rows: Sequence[dict[str, str]], ctx: StepContext, cfgs: dict[str, str],
              modalities: Sequence[str], index: Path | None = None) -> GroupResult:
    """Run the steps of `group` on every ok clip of `rows` (one shard's list) not already done; write the index.

    `cfgs`: step section → its params as JSON; `modalities`: the packed modalities (audio_hubert runs
    only when listed), in pack order. The ok clips go in chunks, in list order: each step of the group runs on
    the chunk in turn, a batched step (`batch_clips` > 1) on consecutive fixed batches of its size, another step
    clip by clip. The chunk is a multiple of every batch size, so with none above 1 it is one clip, as before."""
    steps = [STEPS[s] for s in GROUPS[group] if s in modalities or s == "pack"]
    ctx.modalities = list(modalities)
    canon = {s.name: (s.config.from_json(cfgs.get(s.section, "{}")).to_json() if s.config else "{}") for s in steps}
    cfg_objs = {s.name: (s.config.from_json(canon[s.name]) if s.config else None) for s in steps}
    sizes = [s.batch_clips(cfg_objs[s.name]) for s in steps]
    result = GroupResult()
    job = _Job(group, ctx, canon, cfg_objs, modalities, _Digests(), result,
               int(os.environ.get(KILL_AFTER_ENV, "0") or 0))
    ok = [i for i, row in enumerate(rows) if row["ok"] == "1"]
    out_rows = list(rows)  # rejected or failed upstream: passed on as it is
    chunk = math.lcm(*sizes) if sizes else 1
    for c0 in range(0, len(ok), chunk):
        started = time.perf_counter()
        entries = [ClipEntry(rows[i]["clip"], rows[i]["speaker"], rows[i]["split"], rows[i]["emotion"])
                   for i in ok[c0:c0 + chunk]]
        states = {e.clip: _ClipState() for e in entries}
        for step, size in zip(steps, sizes):
            if size > 1:
                for b0 in range(0, len(entries), size):
                    job.run_batch(step, entries[b0:b0 + size], states)
                continue
            for entry in entries:
                if not states[entry.clip].failed:
                    job.run_one(step, entry, states[entry.clip])
        for n, (i, entry) in enumerate(zip(ok[c0:c0 + chunk], entries), start=c0 + 1):
            out_rows[i] = _index_row(rows[i], entry, states[entry.clip], steps, ctx, result)
            log.info("[%d/%d] %s %s: %s in %.2f s", n, len(ok), group, entry.clip,
                     states[entry.clip].failed or ("done" if states[entry.clip].ran else "already done"),
                     time.perf_counter() - started)
    result.rows = out_rows
    if index is not None:
        write_text(index, rows_text(result.rows, LIST_COLUMNS))
    return result


def _index_row(row: dict[str, str], entry: ClipEntry, state: _ClipState, steps: Sequence[FeatureStep],
               ctx: StepContext, result: GroupResult) -> dict[str, str]:
    """The clip's index row (stage_error, or the digest of its step files); counts it in `result`."""
    if state.failed:
        result.errors.append(entry.clip)
        return {**row, "ok": "0", "reasons": "stage_error", "digest": ""}
    (result.ran if state.ran else result.skipped).append(entry.clip)
    outputs = ((step.name, step.output(ctx, entry.clip)) for step in steps)
    return {**row, "digest": files_digest((name, out) for name, out in outputs if out.is_file())}


def liveportrait_weights(cfg_json: str) -> Path | None:
    """The motion extractor's weights file when `liveportrait.dir` is set (the motion step's shared file), else None."""
    cfg = LiveportraitConfig.from_json(cfg_json)
    if not cfg.dir:
        return None
    from talkhead.models.liveportrait.weights import checkpoint_path  # torch: only when configured

    return checkpoint_path(Path(cfg.dir), "motion_extractor")


def _main(args: argparse.Namespace) -> str:
    cfgs = {k: json.dumps(v) for k, v in json.loads(args.cfg or "{}").items()}
    shared = {"face3dmm_basis": Path(args.basis) if args.basis else None,
              "video_vae": Path(args.vae) if args.vae else None,
              "calibration": Path(args.calibration) if args.calibration else None,
              "liveportrait": liveportrait_weights(cfgs.get("liveportrait", "{}"))}
    ctx = StepContext(Path(args.data), shared)
    rows = read_rows(args.clips, LIST_COLUMNS)
    started = time.perf_counter()
    result = run_group(args.group, rows, ctx, cfgs, [m for m in args.modalities.split(",") if m],
                       Path(args.index) if args.index else None)
    ok = sum(r["ok"] == "1" for r in result.rows)
    return (f"{args.group} {Path(args.clips).stem}: {len(rows)} clips ({ok} ok) — {len(result.ran)} run, "
            f"{len(result.skipped)} already done, {len(result.errors)} failed ({result.steps_run} steps run, "
            f"{result.steps_skipped} already done) — {time.perf_counter() - started:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.feature_shard GROUP --clips CSV --index CSV --modalities M,... [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.feature_shard", __doc__.splitlines()[0])
    parser.add_argument("group", choices=list(GROUPS), help="the post-gate job")
    parser.add_argument("--clips", required=True, help="the shard's clip list: data/qc/_shards/<shard>.csv or the "
                        "previous job's index")
    parser.add_argument("--data", default="data", help="data root")
    parser.add_argument("--index", default="", help="where to write this job's index (same columns)")
    parser.add_argument("--modalities", required=True, help="comma-separated packed modalities, in pack order")
    parser.add_argument("--basis", default="", help="data/models/face3dmm_basis (landmark 3DMM)")
    parser.add_argument("--vae", default="", help="data/models/video_vae (the pipeline's video VAE)")
    parser.add_argument("--calibration", default="", help="data/features/_calibration (per-speaker blendshape files)")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
