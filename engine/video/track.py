"""Choose and follow hands through a clip: per-frame detections -> one track per hand.

MediaPipe's per-frame handedness label is usually right but flickers on ambiguous views (edge-on
hands, hands crossing), and a frame may hold two hands or none. So tracks are built in two steps:

1. Tracklets by spatial continuity: each detection joins the tracklet whose last position is
   nearest (in units of the hand's size, gated), a mismatching label adding a penalty; a
   tracklet survives gaps of up to `max_gap` frames. Hand crossings thus keep identities
   instead of following a flickering label.
2. Each tracklet gets the label its frames vote for (weighted by handedness score); tracklets of
   one label are joined into that hand's track. Where two tracklets claim the same hand in the
   same frame, the weaker one moves to the other hand if that hand is free then, else loses
   those frames.

Frames without the hand and joints below `min_joint_confidence` are masked (keypoints NaN for
missing frames), never errors: "no hand detected" is a normal state.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.hand.skeleton import NUM_KEYPOINTS
from engine.video.detect import FrameDetections, HandDetection

HAND_CHOICES = ("auto", "right", "left")
_OTHER = {"right": "left", "left": "right"}


@dataclass(frozen=True, eq=False)
class HandTrack:
    """One hand over all T frames of a clip; frames without it are masked."""

    handedness: str  # "right" | "left"
    keypoints: np.ndarray  # (T, 21, 2) pixels; NaN where the hand was not detected
    joint_confidence: np.ndarray  # (T, 21); 0 where not detected
    confidence: np.ndarray  # (T,) the hand's score per frame; 0 where not detected
    detected: np.ndarray  # (T,) bool
    mask: np.ndarray  # (T, 21) bool: detected and joint_confidence >= the threshold

    @property
    def num_frames(self) -> int:
        return int(self.detected.shape[0])

    @property
    def num_detected(self) -> int:
        return int(self.detected.sum())


@dataclass
class _Tracklet:
    frames: list[int] = field(default_factory=list)
    hands: list[HandDetection] = field(default_factory=list)

    @property
    def last(self) -> HandDetection:
        return self.hands[-1]

    def vote(self) -> tuple[str, float]:
        """The label the frames vote for (score-weighted) and its margin in [0, 1]."""
        right = sum(h.score for h in self.hands if h.handedness == "right")
        left = sum(h.score for h in self.hands if h.handedness == "left")
        total = max(right + left, 1e-9)
        return ("right", right / total) if right >= left else ("left", left / total)

    @property
    def strength(self) -> float:
        return float(sum(h.score for h in self.hands))


def _cost(tracklet: _Tracklet, det: HandDetection) -> float:
    last = tracklet.last
    scale = max(last.size, det.size, 1.0)
    distance = float(np.linalg.norm(det.centre - last.centre)) / scale
    label_penalty = 0.3 if det.handedness != last.handedness else 0.0
    return distance + label_penalty


def _build_tracklets(frames: Sequence[FrameDetections], max_gap: int, gate: float) -> list[_Tracklet]:
    tracklets: list[_Tracklet] = []
    for t, frame in enumerate(frames):
        active = [k for k, tr in enumerate(tracklets) if t - tr.frames[-1] <= max_gap + 1]
        dets = list(frame.hands)
        best: tuple[float, list[tuple[int, int]]] = (np.inf, [])
        # At most a handful of hands and tracklets: try every assignment, keep the cheapest.
        for size in range(min(len(active), len(dets)), -1, -1):
            for chosen in itertools.permutations(active, size):
                for dets_idx in itertools.combinations(range(len(dets)), size):
                    pairs = list(zip(chosen, dets_idx, strict=True))
                    costs = [_cost(tracklets[k], dets[d]) for k, d in pairs]
                    if any(c > gate for c in costs):
                        continue
                    # Prefer more matches, then the lower total cost.
                    total = sum(costs) - 10.0 * size
                    if total < best[0]:
                        best = (total, pairs)
        matched = set()
        for k, d in best[1]:
            tracklets[k].frames.append(t)
            tracklets[k].hands.append(dets[d])
            matched.add(d)
        for d, det in enumerate(dets):
            if d not in matched:
                tracklets.append(_Tracklet([t], [det]))
    return tracklets


def track_hands(
    frames: Sequence[FrameDetections],
    *,
    hand: str = "auto",
    min_joint_confidence: float = 0.5,
    max_gap: int = 15,
    gate: float = 1.5,
    min_share: float = 0.1,
) -> list[HandTrack]:
    """Tracks of the hands in `frames` (all frames of the clip, in order).

    hand="right" / "left": exactly one track, that hand (possibly never detected: all masked).
    hand="auto": one track per hand seen in at least `min_share` of the frames the best-seen
    hand was seen in (fewer are taken as false detections), most-seen first; when no hand is
    seen at all, a single all-masked right-hand track.
    """
    if hand not in HAND_CHOICES:
        raise ValueError(f"hand must be one of {', '.join(HAND_CHOICES)}, got {hand!r}")
    num_frames = len(frames)
    tracklets = _build_tracklets(frames, max_gap=max_gap, gate=gate)
    # Assign tracklets to hands, strongest first; a conflicting one moves to the other hand.
    owner: dict[str, dict[int, HandDetection]] = {"right": {}, "left": {}}
    for tracklet in sorted(tracklets, key=lambda tr: -tr.strength):
        label, _ = tracklet.vote()
        frames_set = set(tracklet.frames)
        if frames_set & owner[label].keys() and not frames_set & owner[_OTHER[label]].keys():
            label = _OTHER[label]
        for t, det in zip(tracklet.frames, tracklet.hands, strict=True):
            owner[label].setdefault(t, det)
    tracks = {label: _to_track(label, owner[label], num_frames, min_joint_confidence) for label in owner}
    if hand != "auto":
        return [tracks[hand]]
    seen = sorted(tracks.values(), key=lambda tr: -tr.num_detected)
    if seen[0].num_detected == 0:
        return [tracks["right"]]
    return [tr for tr in seen if tr.num_detected >= max(1.0, min_share * seen[0].num_detected)]


def _to_track(label: str, dets: dict[int, HandDetection], num_frames: int, min_conf: float) -> HandTrack:
    kp = np.full((num_frames, NUM_KEYPOINTS, 2), np.nan)
    joint_conf = np.zeros((num_frames, NUM_KEYPOINTS))
    conf = np.zeros(num_frames)
    detected = np.zeros(num_frames, dtype=bool)
    for t, det in dets.items():
        kp[t] = det.keypoints
        joint_conf[t] = det.joint_confidence
        conf[t] = det.score
        detected[t] = True
    mask = detected[:, None] & (joint_conf >= min_conf)
    return HandTrack(label, kp, joint_conf, conf, detected, mask)
