"""The vocabulary every layer shares: emotion labels, packed audio tensors, the motion's size, the 52 blendshapes.

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


# The 52 ARKit blendshapes in ARKit's order (the columns of every blendshape track and of V3 Face's output)
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft",
    "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft",
    "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft", "browDownRight",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)


def emotion_id(label: str) -> int:
    """The id 0..8 of an emotion label (unknown or empty labels are `none`)."""
    label = (label or "none").strip().lower()
    return EMOTIONS.index(label) if label in EMOTIONS else NULL_EMOTION


# Valence, arousal, dominance: the three affect axes of text (talkhead.features.vad_teacher, MicroAlbert),
# each in [0, 1]
VAD_AXES: tuple[str, ...] = ("valence", "arousal", "dominance")

# Where each of MoDA's eight emotions sits in VAD space, [0, 1] per axis: (x + 1) / 2 of the pleasure–arousal–
# dominance coordinates tabulated after Russell & Mehrabian (1977) for anger, disgust, fear, happiness, sadness and
# surprise; contempt (unpleasant, calm, dominant) and neutral (the centre) are talkhead's placement. `talkhead vad`
# and `--emotion auto` map a text's VAD to these (talkhead.infer.vad.emotion_weights; docs/microalbert.md).
EMOTION_VAD: dict[str, tuple[float, float, float]] = {
    "anger": (0.245, 0.795, 0.625),
    "contempt": (0.25, 0.55, 0.725),
    "disgust": (0.20, 0.675, 0.555),
    "fear": (0.18, 0.80, 0.285),
    "happiness": (0.905, 0.755, 0.73),
    "neutral": (0.50, 0.50, 0.50),
    "sadness": (0.185, 0.365, 0.335),
    "surprise": (0.70, 0.835, 0.435),
}
