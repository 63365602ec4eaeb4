"""The shared vocabulary agrees with the manifest schema, the motion layout and the packed rows."""

from talkhead.config_base import load_schema
from talkhead.features import motion as mo
from talkhead.vocab import EMOTIONS, MOTION_DIM, NULL_EMOTION, emotion_id


def test_emotions_are_the_manifest_enum():
    assert list(EMOTIONS) == load_schema("manifest.schema.yaml")["properties"]["emotion"]["enum"]


def test_emotion_ids():
    assert [emotion_id(e) for e in EMOTIONS] == list(range(len(EMOTIONS)))
    assert emotion_id(" Happiness ") == EMOTIONS.index("happiness")
    assert emotion_id("") == emotion_id("bored") == NULL_EMOTION == len(EMOTIONS) - 1


def test_motion_dim_is_the_feature_layout():
    assert len(mo.NAMES) == mo.DIM == MOTION_DIM == 3 * mo.N_KEYPOINTS + 7
