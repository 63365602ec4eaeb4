"""The SyncNet MFCC front end (talkhead.eval.mfcc) against python_speech_features.mfcc, live.

syncnet_python computes `python_speech_features.mfcc(audio, 16000)` on the int16 samples of a 16 kHz
wav; talkhead reimplements it in NumPy (float32 output). Compared on synthetic signals (always) and on
the 16 kHz mono real recording in ../shared/fixtures/real (skipped when absent); the comparisons are
tests/parity/compare.py's, which benchmarks/parity_report.py measures for docs/evaluation.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.parity.compare import MFCC_SIGNALS, REAL_SPEECH, mfcc, mfcc_fixture, mfcc_signal, real_speech


@pytest.mark.parametrize("kind", MFCC_SIGNALS)
def test_mfcc_parity(kind):
    samples = mfcc_signal(kind)
    assert mfcc(samples, samples).failures() == []


def test_mfcc_parity_float_input():
    """Float samples in [−1, 1) are scaled by 32768: the int16 values the reference reads."""
    samples = mfcc_signal("noise")
    assert mfcc(samples.astype(np.float32) / 32768.0, samples).failures() == []


@pytest.mark.realdata
def test_mfcc_parity_real_speech():
    if not REAL_SPEECH.is_file():
        pytest.skip(f"{REAL_SPEECH} absent")
    samples = real_speech()
    assert mfcc(samples, samples).failures() == []


def test_mfcc_parity_with_the_syncnet_fixture():
    """The MFCC that syncnet_python's environment computed for the Sync-C/D parity audio (tests/fixtures/parity)."""
    assert mfcc_fixture().failures() == []
