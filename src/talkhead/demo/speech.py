"""Offline text-to-speech: libespeak-ng (from the `espeakng_loader` wheel) driven through ctypes.

Determinism: espeak-ng keeps synthesis state in C statics that no API resets (the pitch-flutter
phase, the gain control, the roughness cycle counter), so the same text spoken twice in one process
gives slightly different samples. `synthesize` therefore runs each utterance in a fresh Python
worker (this file run as a script, ~0.15 s), where espeak is initialised once — a module-level
singleton under a lock — and both of its noise generators (its own, seeded from the clock, and
libc's `rand()`) are reseeded. The same inputs then give the same samples in any process.
"""

from __future__ import annotations

import ctypes
import json
import logging
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000  # return errors instead of calling exit()
POS_CHARACTER = 1
CHARS_UTF8 = 1
PARAM_RATE = 1
PARAM_PITCH = 3
EE_OK = 0
BUFFER_MS = 200
NOISE_SEED = 12345
WORKER_TIMEOUT_S = 120

# int callback(short *wav, int numsamples, espeak_EVENT *events)
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _check(code: int, what: str) -> None:
    """Raise RuntimeError when an espeak call does not return EE_OK."""
    if code != EE_OK:
        raise RuntimeError(f"espeak-ng: {what} (error code {code})")


def _declare(lib: ctypes.CDLL) -> None:
    """Set the ctypes signatures of the espeak functions used here."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Synchronize.argtypes = []
    if hasattr(lib, "espeak_ng_SetRandSeed"):  # espeak-ng >= 1.52
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]


def _load() -> tuple[ctypes.CDLL, int]:
    """Open libespeak-ng and initialise it in synchronous mode; return (library, sample rate)."""
    try:
        import espeakng_loader
    except ImportError as exc:
        raise RuntimeError(f"espeak-ng unavailable: the espeakng_loader package is not installed ({exc})") from None
    lib_path, data_path = Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())
    try:
        lib = ctypes.CDLL(str(lib_path))
    except OSError as exc:
        raise RuntimeError(f"espeak-ng unavailable: cannot load {lib_path} ({exc})") from None
    if not data_path.is_dir():
        raise RuntimeError(f"espeak-ng unavailable: data folder {data_path} not found")
    _declare(lib)
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, str(data_path).encode("utf-8"),
                                 INITIALIZE_DONT_EXIT)
    if rate <= 0:
        raise RuntimeError(f"espeak-ng unavailable: espeak_Initialize failed ({rate}) with data {data_path}")
    log.debug("espeak-ng initialised from %s at %d Hz", lib_path, rate)
    return lib, rate


class _Engine:
    """The process-wide espeak-ng instance: library handle, sample rate and the sample sink."""

    def __init__(self) -> None:
        self.lib, self.rate = _load()
        self.chunks: list[np.ndarray] = []
        self.callback = _CALLBACK(self._collect)  # kept referenced: espeak holds only the raw pointer
        self.lib.espeak_SetSynthCallback(self.callback)
        self.libc = ctypes.CDLL(None)

    def _collect(self, wav: ctypes.POINTER(ctypes.c_short), n: int, _events: int) -> int:
        """espeak's synth callback: copy `n` int16 samples out (wav is NULL at the end)."""
        if wav and n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0 = continue synthesis

    def reseed(self) -> None:
        """Reset espeak's noise generators (its own, seeded from the clock at start-up, and libc's)."""
        if hasattr(self.lib, "espeak_ng_SetRandSeed"):
            self.lib.espeak_ng_SetRandSeed(NOISE_SEED)
        self.libc.srand(NOISE_SEED)

    def speak(self, text: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
        """Synthesize `text`; int16 samples at self.rate."""
        _check(self.lib.espeak_SetVoiceByName(voice.encode("utf-8")), f"unknown voice {voice!r}")
        _check(self.lib.espeak_SetParameter(PARAM_RATE, int(rate_wpm), 0), "cannot set rate")
        _check(self.lib.espeak_SetParameter(PARAM_PITCH, int(pitch), 0), "cannot set pitch")
        self.chunks = []
        self.reseed()
        data = text.encode("utf-8") + b"\0"
        _check(self.lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None), "synthesis failed")
        _check(self.lib.espeak_Synchronize(), "synchronize failed")
        chunks, self.chunks = self.chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)  # (n,) int16


_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def speak_in_process(text: str, voice: str, rate_wpm: int, pitch: int) -> tuple[np.ndarray, int]:
    """Synthesize with this process's engine: int16 samples and rate (not repeatable across calls)."""
    global _ENGINE
    with _LOCK:
        if _ENGINE is None:
            _ENGINE = _Engine()
        return _ENGINE.speak(text, voice, rate_wpm, pitch), _ENGINE.rate


def _worker_main() -> int:
    """Worker entry: read a JSON request on stdin, write rate (uint32) + int16 PCM on stdout."""
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    try:
        pcm, rate = speak_in_process(request["text"], request["voice"], request["rate_wpm"], request["pitch"])
    except RuntimeError as exc:
        sys.stderr.write(f"{exc}\n")
        return 3
    sys.stdout.buffer.write(struct.pack("<I", rate) + pcm.astype("<i2").tobytes())
    sys.stdout.buffer.flush()
    return 0


def synthesize(text: str, voice: str = "en-us", rate_wpm: int = 160, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Speak `text` with espeak-ng; return float32 mono samples in [-1, 1] and the sample rate (22050 Hz)."""
    if not text.strip():
        raise ValueError("synthesize: empty text")
    request = json.dumps({"text": text, "voice": voice, "rate_wpm": int(rate_wpm), "pitch": int(pitch)})
    try:
        done = subprocess.run([sys.executable, "-P", str(Path(__file__).resolve())], input=request.encode("utf-8"),
                              capture_output=True, timeout=WORKER_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"espeak-ng worker failed to run: {exc}") from None
    if done.returncode != 0 or len(done.stdout) < 4:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"espeak-ng worker failed (exit {done.returncode}): {reason[-1] if reason else 'no output'}")
    rate = struct.unpack("<I", done.stdout[:4])[0]
    pcm = np.frombuffer(done.stdout[4:], dtype="<i2")  # (n,) int16
    samples = (pcm.astype(np.float32) / 32768.0).clip(-1.0, 1.0)  # (n,) float32
    log.debug("synthesized %.2f s of %r with voice %s", len(samples) / rate, text[:40], voice)
    return samples, rate


if __name__ == "__main__":
    raise SystemExit(_worker_main())
