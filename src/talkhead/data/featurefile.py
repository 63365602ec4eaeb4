"""Feature files: safetensors (no pickles) with the provenance every consumer needs in their metadata.

Every modality file and every packed clip file carries, as string metadata: `clip`, `modality`,
`rate_hz` (rows per second of its time axis), `frames` (video frames of the clip it is aligned
to), `extractor`, `version`, `checkpoint` (the weights or data it came from, '' for none), and
the `format` of this convention. Files are written atomically and are byte-identical for the same
tensors and metadata: the safetensors layout (8-byte little-endian header length, JSON header,
raw little-endian data) is serialised here with sorted keys, because the library's own writer
orders the metadata map differently from call to call.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open

from talkhead.atomic import atomic_path

FORMAT = "talkhead-features-1"
REQUIRED = ("clip", "modality", "rate_hz", "frames", "extractor", "version", "checkpoint")


class FeatureFileError(ValueError):
    """A feature file that is missing, unreadable or lacks the required metadata."""


DTYPES = {np.dtype(k): v for k, v in (("float64", "F64"), ("float32", "F32"), ("float16", "F16"), ("int64", "I64"),
                                       ("int32", "I32"), ("int16", "I16"), ("int8", "I8"), ("uint8", "U8"),
                                       ("bool", "BOOL"))}


def serialize(tensors: Mapping[str, np.ndarray], meta: Mapping[str, str]) -> bytes:
    """The safetensors bytes of `tensors` (in key order) with string metadata, deterministically."""
    header: dict[str, object] = {"__metadata__": dict(sorted(meta.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        if arr.dtype not in DTYPES:
            raise FeatureFileError(f"tensor {name!r}: dtype {arr.dtype} has no safetensors code")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_features(path: str | Path, tensors: Mapping[str, np.ndarray], meta: Mapping[str, object]) -> None:
    """Save `tensors` (contiguous numpy arrays) with `meta` (stringified) to `path`, atomically."""
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise FeatureFileError(f"{path}: metadata lacks {missing}")
    strings = {k: str(v) for k, v in meta.items()} | {"format": FORMAT}
    with atomic_path(path, suffix=".safetensors") as tmp:
        tmp.write_bytes(serialize(tensors, strings))


def read_features(path: str | Path, keys: list[str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of a feature file; only `keys` when given."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = dict(fh.metadata() or {})
            names = list(fh.keys()) if keys is None else keys
            tensors = {k: fh.get_tensor(k) for k in names}
    except (OSError, SafetensorError) as exc:
        raise FeatureFileError(f"{path}: cannot read ({exc})") from None
    if meta.get("format") != FORMAT:
        raise FeatureFileError(f"{path}: not a talkhead feature file (format {meta.get('format')!r})")
    return tensors, meta


def read_meta(path: str | Path) -> dict[str, str]:
    """Only the metadata (cheap: the header)."""
    return read_features(path, keys=[])[1]
