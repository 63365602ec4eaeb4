"""The two channel groups of V3 Face over the 52 ARKit blendshapes: lipsync and expression.

The V3 Face notes split the output into the channels driven by speech — `LIPSYNC_ONLY ∪
SHARED_CHANNELS` there, 31 channels: every jaw*, mouth*, cheek* shape and tongueOut — and the
expression channels (eyes, brows, nose: 21), trained second with the lipsync branch frozen. This is
the one place the split is defined; indices are into talkhead.vocab.ARKIT_NAMES.
"""

from __future__ import annotations

from talkhead.vocab import ARKIT_NAMES

LIPSYNC_PREFIXES = ("jaw", "mouth", "cheek", "tongue")
LIPSYNC_CHANNELS: tuple[str, ...] = tuple(n for n in ARKIT_NAMES if n.startswith(LIPSYNC_PREFIXES))
EXPRESSION_CHANNELS: tuple[str, ...] = tuple(n for n in ARKIT_NAMES if n not in LIPSYNC_CHANNELS)
LIPSYNC_INDEX: tuple[int, ...] = tuple(ARKIT_NAMES.index(n) for n in LIPSYNC_CHANNELS)  # (31,) ascending
EXPRESSION_INDEX: tuple[int, ...] = tuple(ARKIT_NAMES.index(n) for n in EXPRESSION_CHANNELS)  # (21,) ascending
BROW_CHANNELS: tuple[str, ...] = tuple(n for n in ARKIT_NAMES if n.startswith("brow"))

if len(LIPSYNC_CHANNELS) != 31 or len(EXPRESSION_CHANNELS) != 21:
    raise RuntimeError(f"ARKit split changed: {len(LIPSYNC_CHANNELS)} lipsync, {len(EXPRESSION_CHANNELS)} expression")
