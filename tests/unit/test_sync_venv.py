"""requirements/sync_venv.py: what `make install` removes from a venv when the lock drops a distribution."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("sync_venv", REPO / "requirements" / "sync_venv.py")
sync_venv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync_venv)


def test_names_of_a_lock_are_canonical_and_skip_comments(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# header\nTorch==2.13.0\npython_speech_features==0.6  # test\n\nruamel.yaml==0.18\n")
    assert sync_venv.locked_names(lock) == {"torch", "python-speech-features", "ruamel-yaml"}


def test_only_what_the_lock_dropped_is_removed():
    installed = {"torch", "torchaudio", "gsplat", "numpy"}
    # the previous lock had torchaudio, the new one does not; gsplat was never in a lock: the user's, kept
    assert sync_venv.dropped(installed, {"torch", "torchaudio", "numpy"}, {"torch", "numpy"}) == ["torchaudio"]
    assert sync_venv.dropped(installed, {"torch", "numpy"}, {"torch", "numpy"}) == []
    # a venv whose stamp holds no lock: checked against the distributions earlier locks dropped
    assert sync_venv.dropped(installed, set(), {"torch", "numpy"}) == ["torchaudio"]

