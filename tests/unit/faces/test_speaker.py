"""Active-speaker bookkeeping: faces at multi-face probes become slots; the speaker's face is kept."""

from __future__ import annotations

import numpy as np

from talkhead.faces.speaker import SpeakerFinder, keep_speaker
from talkhead.faces.track import IdentityTracker, significant
from talkhead.faces.types import Detection


def _face(x0: float, side: float = 100.0) -> Detection:
    return Detection(np.array([x0, 50, x0 + side, 50 + side], np.float32), 0.9, np.zeros((5, 2), np.float32))


def test_slots_follow_faces_by_overlap_and_only_while_several_are_seen():
    finder = SpeakerFinder()
    finder.probe(0, [_face(10), _face(300)])
    assert finder.active and len(finder.slots) == 2
    finder.probe(5, [_face(14), _face(296)])  # both moved a little: same slots
    assert len(finder.slots) == 2 and 5 in finder.slots[0].boxes and 5 in finder.slots[1].boxes
    finder.probe(10, [_face(14)])
    assert not finder.active  # one face: no mouths measured until two are seen again


def test_keep_speaker_makes_the_tracker_follow_the_speaker():
    left, right = _face(10, 90), _face(300, 110)  # the listener on the right is larger
    probes = [(f, [left, right]) for f in (0, 5, 10)]
    tracker = IdentityTracker()
    for f, found in probes:
        tracker.update(f, found)
    assert all(d.box[0] == 300 for d in tracker.result().chosen), "by default the largest face is tracked"
    finder = SpeakerFinder()
    for f, found in probes:
        finder.probe(f, significant(found, 0.5))
    speaker = next(s for s in finder.slots if s.box[0] == 10)
    tracker = IdentityTracker()
    for f, found in keep_speaker(probes, speaker):
        tracker.update(f, found)
    assert all(d.box[0] == 10 for d in tracker.result().chosen)


def test_significant_ignores_small_background_faces():
    assert [d.box[0] for d in significant([_face(0, 100), _face(200, 30), _face(400, 60)], 0.5)] == [0, 400]
    assert significant([], 0.5) == []
