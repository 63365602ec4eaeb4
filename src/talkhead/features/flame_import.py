"""Import adapter: per-frame FLAME parameters produced elsewhere by EMOCA or DECA, for one clip.

FLAME (Li et al. 2017, https://flame.is.tue.mpg.de) parameters from EMOCA (Danecek et al. 2022,
https://github.com/radekd91/emoca) or DECA (Feng et al. 2021, https://github.com/yfeng95/DECA) are
brought in under the tensor names of talkhead's landmark model (talkhead.features.face3dmm):
`global_pose` (T, 3) and `jaw_pose` (T, 3) axis-angle radians in FLAME's axes, `expression`
(T, E) (E = 50 for EMOCA/DECA, 100 for some FLAME fits), and `clip_shape_coefficients` (S,)
when shape is given (the per-frame shapes' median when there is one per frame; FLAME shape is
identity, one per clip). Values are taken as produced: nothing is re-fitted or converted.

Layouts, for clip `c` under `import_dir` (exactly one must exist):
- EMOCA folder `c/`: one sub-folder per frame, sorted by name with numbers compared as numbers,
  each holding `exp.npy` (E,), `pose.npy` (6,) = global 3 + jaw 3, optionally `shape.npy` (S,).
  Verified against radekd91/emoca `gdl_apps/EMOCA/utils/io.py` `save_codes`, which writes, per
  image, `{outfolder}/{name}/shape.npy, exp.npy, tex.npy, pose.npy, detail.npy` from the
  `shapecode`, `expcode`, `texcode`, `posecode`, `detailcode` of the batch's i-th item (so 1-D
  arrays; a leading batch axis of 1 is also accepted), and `demos/test_emoca_on_video.py`, where
  `outfolder` is `{output_folder}/{processed_subfolder}/{video stem}/results/{model_name}` and
  `name` the frame's image name: link or copy that `results/{model_name}` folder to
  `import_dir/c`. EMOCA writes one folder per detected face, so a frame with no face or two faces
  shows up as a frame-count mismatch, which is an error (never padded or cut).
- `c.npz`: arrays `exp` (T, E) and `pose` (T, 6), or `global_pose` and `jaw_pose` (T, 3);
  optional `shape` (S,) or (T, S). Loaded without pickles.
- `c.pkl`: a DECA/EMOCA codedict-like dict with the same keys (values numpy arrays or lists of
  per-frame arrays). Verified against yfeng95/DECA `decalib/deca.py`: `encode` returns a codedict
  with `shape` (N, 100), `tex`, `exp` (N, 50), `pose` (N, 6) (global then jaw, axis-angle; an
  Euler jaw is converted before it is returned), `cam`, `light`; EMOCA's `expcode`/`posecode`/
  `shapecode` names are accepted as aliases. A pickle can run arbitrary code when loaded (its
  GLOBAL/REDUCE opcodes call any importable function, e.g. os.system), so it is read with a
  restricted unpickler that rebuilds only numpy arrays and dtypes, dicts and lists, and refuses
  every other global with `UnsafePickleError` (save torch tensors as `.numpy()`, or use `.npz`).
  The allow-list is what numpy's own array pickles reference: `_reconstruct`, `ndarray`, `dtype`
  (protocols 0-4), `_frombuffer` (protocol 5, Python 3.14's default) and `_codecs.encode`
  (how protocols 0-2 store bytes); none of them can run code or touch files.
"""

from __future__ import annotations

import codecs
import io
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VERSION = "flame-import-1"
ALIASES = {"exp": ("exp", "expcode"), "pose": ("pose", "posecode"), "shape": ("shape", "shapecode")}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle that references something other than numpy arrays, dicts and lists."""


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The only globals a FLAME parameter pickle may reference: what numpy arrays are rebuilt from."""
    probe = np.zeros(1)
    reconstruct = probe.__reduce__()[0]  # numpy's _reconstruct (protocols 0-4), whichever module holds it
    frombuffer = probe.__reduce_ex__(5)[0]  # numpy's _frombuffer (protocol 5 in-band buffers)
    allowed: dict[tuple[str, str], Any] = {("builtins", "dict"): dict, ("builtins", "list"): list,
                                           ("numpy", "dtype"): np.dtype,
                                           ("_codecs", "encode"): codecs.encode}  # bytes in protocol <= 2
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.numeric", "_frombuffer")] = frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays, dicts and lists only, and refuses every other global."""

    ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a global only when it is on the allow-list."""
        found = self.ALLOWED.get((module, name))
        if found is None:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: a pickle can run arbitrary code, so only numpy "
                "arrays, dicts and lists are allowed (save tensors with .numpy(), or use the .npz layout)")
        return found


def restricted_load(data: bytes) -> Any:
    """Unpickle `data` with `RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


@dataclass(frozen=True)
class ImportedFlame:
    """One clip's FLAME parameters read from EMOCA/DECA output."""

    tensors: dict[str, np.ndarray]
    layout: str  # emoca | npz | pkl
    source: Path

    @property
    def extractor(self) -> str:
        """The feature file's extractor name, e.g. 'flame-import-emoca'."""
        return f"flame-import-{self.layout}"


def natural_key(name: str) -> list[Any]:
    """Sort key comparing runs of digits as numbers ('f2' < 'f10'); str and int parts alternate."""
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(re.split(r"(\d+)", name))]


def locate(import_dir: str | Path, clip: str) -> tuple[str, Path]:
    """(layout, path) of the clip's entry in `import_dir`; exactly one of c/, c.npz, c.pkl must exist."""
    root = Path(import_dir)
    candidates = [("emoca", root / clip), ("npz", root / f"{clip}.npz"), ("pkl", root / f"{clip}.pkl")]
    present = [(layout, path) for layout, path in candidates
               if (path.is_dir() if layout == "emoca" else path.is_file())]
    if not present:
        raise FileNotFoundError(f"no FLAME parameters for clip {clip!r}: none of "
                                f"{', '.join(str(p) for _, p in candidates)} exists")
    if len(present) > 1:
        raise ValueError(f"clip {clip!r} has several FLAME imports, keep one: {[str(p) for _, p in present]}")
    return present[0]


def _load_npy(path: Path) -> np.ndarray:
    """A per-frame code from a .npy file (no pickles), flattened."""
    return np.load(path, allow_pickle=False).reshape(-1)


def load_emoca_dir(folder: Path) -> dict[str, np.ndarray]:
    """Stack EMOCA's per-frame folders (natural name order) into exp (T, E), pose (T, 6), shape (T, S)."""
    frames = sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
                    key=lambda d: natural_key(d.name))
    if not frames:
        raise ValueError(f"{folder}: no per-frame folders")
    raw: dict[str, list[np.ndarray]] = {"exp": [], "pose": [], "shape": []}
    for d in frames:
        for key in ("exp", "pose"):
            if not (d / f"{key}.npy").is_file():
                raise ValueError(f"{d}: frame folder lacks {key}.npy")
            raw[key].append(_load_npy(d / f"{key}.npy"))
        if (d / "shape.npy").is_file():
            raw["shape"].append(_load_npy(d / "shape.npy"))
    if raw["shape"] and len(raw["shape"]) != len(frames):
        raise ValueError(f"{folder}: shape.npy in {len(raw['shape'])} of {len(frames)} frame folders")
    try:
        return {k: np.stack(v) for k, v in raw.items() if v}
    except ValueError as exc:
        raise ValueError(f"{folder}: per-frame codes differ in length ({exc})") from None


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a .npz file (no pickles)."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def load_pickle(path: Path) -> dict[str, Any]:
    """A codedict-like dict from a .pkl file, via the restricted unpickler."""
    data = restricted_load(path.read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict of FLAME codes, got {type(data).__name__}")
    return data


def _pick(raw: Mapping[str, Any], key: str) -> Any:
    """The value stored under `key` or one of its aliases (None when absent)."""
    for name in ALIASES.get(key, (key,)):
        if name in raw:
            return raw[name]
    return None


def _per_frame(value: Any, name: str, source: Path, width: int | None = None) -> np.ndarray:
    """(T, C) float32 from an array or a list of per-frame arrays; a (T, 1, C) batch axis is dropped."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 2 or (width is not None and arr.shape[1] != width):
        want = f"(T, {width})" if width else "(T, E)"
        raise ValueError(f"{source}: {name} must be {want}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{source}: {name} has non-finite values")
    return np.ascontiguousarray(arr)


def _pose(raw: Mapping[str, Any], source: Path) -> tuple[np.ndarray, np.ndarray]:
    """(global (T, 3), jaw (T, 3)) from `pose` (T, 6) or from `global_pose` and `jaw_pose`."""
    pose = _pick(raw, "pose")
    if pose is not None:
        pose = _per_frame(pose, "pose", source, 6)
        return pose[:, :3].copy(), pose[:, 3:].copy()
    if "global_pose" in raw and "jaw_pose" in raw:
        return (_per_frame(raw["global_pose"], "global_pose", source, 3),
                _per_frame(raw["jaw_pose"], "jaw_pose", source, 3))
    raise ValueError(f"{source}: no pose (T, 6) nor global_pose and jaw_pose (T, 3)")


def _shape(value: Any, frames: int, source: Path) -> np.ndarray:
    """(S,) per-clip shape coefficients from (S,), (1, S) or per-frame (T, S) (their median)."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2 and len(arr) in (1, frames):
        arr = np.median(arr, axis=0)
    if arr.ndim != 1 or not np.isfinite(arr).all():
        raise ValueError(f"{source}: shape must be finite (S,), (1, S) or (T, S) with T = {frames}, got {arr.shape}")
    return arr.astype(np.float32)


def to_tensors(raw: Mapping[str, Any], frames: int, source: Path) -> dict[str, np.ndarray]:
    """Validate raw codes against the clip's `frames` and name them as the landmark model does."""
    exp = _pick(raw, "exp")
    if exp is None:
        raise ValueError(f"{source}: no exp (expression codes); keys are {sorted(raw)}")
    expression = _per_frame(exp, "exp", source)
    head, jaw = _pose(raw, source)
    if not len(expression) == len(head) == len(jaw):
        raise ValueError(f"{source}: {len(expression)} expression rows but {len(head)} pose rows")
    if len(expression) != frames:
        raise ValueError(f"{source}: {len(expression)} frames of FLAME parameters for a {frames}-frame clip "
                         "(a frame-count mismatch is never padded or cut; re-export one entry per video frame)")
    tensors = {"global_pose": head, "jaw_pose": jaw, "expression": expression}
    shape = _pick(raw, "shape")
    if shape is not None:
        tensors["clip_shape_coefficients"] = _shape(shape, frames, source)
    return tensors


LOADERS = {"emoca": load_emoca_dir, "npz": load_npz, "pkl": load_pickle}


def read_flame_params(import_dir: str | Path, clip: str, frames: int) -> ImportedFlame:
    """Read one clip's FLAME parameters from `import_dir` (EMOCA folder, .npz or .pkl), checked for `frames`."""
    layout, path = locate(import_dir, clip)
    return ImportedFlame(to_tensors(LOADERS[layout](path), frames, path), layout, path)
