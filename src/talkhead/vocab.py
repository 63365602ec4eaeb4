"""The vocabulary every layer shares: emotion labels, packed audio tensors, the motion's size.

One definition each, imported by the data, model, training, evaluation and inference code alike
(nothing here imports from talkhead). The manifest schema's `emotion` enum is the same list
(tests/unit/test_vocab.py checks it).
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
                             "none")  # MoDA's eight classes + none; ids 0..8
NULL_EMOTION = EMOTIONS.index("none")  # 8: MoDA's "None" label, also the dropped-emotion label of CFG

AUDIO_KEYS = {"audio_mel": "audio_mel/mel", "audio_hubert": "audio_hubert/hidden"}  # packed tensor per modality
ROWS_PER_FRAME = {"audio_mel": 4, "audio_hubert": 2}  # audio rows per video frame; face modalities: 1

MOTION_DIM = 70  # MoDA's per-frame motion: 21 keypoints × xyz, scale, translation, pitch/yaw/roll (features.motion)


def emotion_id(label: str) -> int:
    """The id 0..8 of an emotion label (unknown or empty labels are `none`)."""
    label = (label or "none").strip().lower()
    return EMOTIONS.index(label) if label in EMOTIONS else NULL_EMOTION
