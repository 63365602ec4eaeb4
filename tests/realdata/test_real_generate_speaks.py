"""`talkhead generate` with the models `make demo` trained: real portraits speaking a real recording open and close
the mouth like a speaker (issue 19's target: gap std ≥ 0.025, best-lag r with loudness ≥ 0.25).

Needs the checkout's data/models from `make demo` (the motion DiT with its mouth map and V3 Face's lipsync model
beside it); skipped, saying so, without them. benchmarks/speaking.py scores every portrait and recording.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from talkhead.eval.portraits import TARGET_R, TARGET_STD, score_portraits
from talkhead.models.mouth_map import MAP_FILE

pytestmark = pytest.mark.realdata
MODELS = Path(__file__).resolve().parents[2] / "data" / "models"
PORTRAITS = ("AniPortrait__ref_images_Aragaki.png", "hallo__reference_images_6.jpg")
SPEECH = "audio/SadTalker__driven_audio_RD_Radio31_000.wav"


@pytest.fixture(scope="module")
def demo_models() -> Path:
    if (not (MODELS / "motion_dit" / MAP_FILE).is_file()
            or not (MODELS / "v3face" / "lipsync" / "config.json").is_file()):
        pytest.skip(f"no models from `make demo` in {MODELS} (a motion DiT with {MAP_FILE}, v3face/lipsync)")
    return MODELS / "motion_dit"


@pytest.mark.parametrize("portrait", PORTRAITS)
def test_a_real_portrait_speaks_real_speech(real_media, demo_models, tmp_path, portrait):
    [row] = score_portraits(demo_models, [real_media / "images" / portrait], [real_media / SPEECH], tmp_path)
    assert row["mouth"] == "driver"
    assert row["gap_std"] >= TARGET_STD and row["r_loudness"] >= TARGET_R, row
