"""The editing session: per-hand tracks, their conditions, edits, a serialisable undo history.

A `Session` holds one `Track` per hand ("right", "left"; each edited independently) and a single
history of edits. Every edit is recorded as a list of `Change`s: one per-frame array of one track,
a frame range, and its values before and after. Undo writes the "before" values back, redo the
"after" values, so the history is plain arrays and saves to the session file like everything else.

Edits that need new motion (drag a 2D keypoint, pin or unpin a 3D joint, regenerate a range)
return an `EditTicket` holding an immutable `InfillRequest`; a worker runs it and hands the result
back to `Session.apply_result`, which accepts it only if the session has not changed since (its
`revision`). The new motion becomes part of the newest history entry, so one undo takes back both
the edit and the motion it produced. Masking, unmasking, locking and unlocking frames only change
conditions; their frames are flagged `stale` until a regenerate covers them.

How a track turns into `Conditions` (DESIGN.md section 3):
- kp2d: the observed (detected) keypoints, except frames the user masked; a dragged keypoint
  replaces the detection at its frame and is kept even in masked frames;
- kp3d: observed 3D keypoints the same way, with pinned joints replacing them;
- mano: the locked frames, with the pose the motion had when they were locked, kept exactly.

Session files are "unihand.session/1" .npz files (never pickles): a JSON header plus arrays,
written atomically (engine/files.py). `RecoveryFile` is the autosave used for crash recovery.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.editing.request import DEFAULT_GUIDANCE, MODALITIES, InfillRequest, InfillResult
from engine.errors import FileFormatError, UniHandError
from engine.files import write_npz_atomic
from engine.hand.skeleton import NUM_BETAS, NUM_KEYPOINTS, POSE_DIM
from engine.motion.types import HANDEDNESS, Conditions, HandMotion

SESSION_FORMAT = "unihand.session/1"
SUPPORTED_VERSIONS = (1,)
RECOVERY_NAME = "autosave.unihand.npz"

# Per-frame arrays of a track: name -> (trailing shape, dtype). Every edit is a change to these.
TRACK_ARRAYS: dict[str, tuple[tuple[int, ...], type]] = {
    "kp2d_obs": ((NUM_KEYPOINTS, 2), np.float64),  # detected keypoints, pixels
    "kp2d_obs_mask": ((NUM_KEYPOINTS,), np.bool_),
    "kp2d_conf": ((NUM_KEYPOINTS,), np.float64),  # detection confidence 0..1
    "drag2d": ((NUM_KEYPOINTS, 2), np.float64),  # keypoints the user dragged, pixels
    "drag2d_mask": ((NUM_KEYPOINTS,), np.bool_),
    "kp3d_obs": ((NUM_KEYPOINTS, 3), np.float64),  # observed 3D keypoints, metres
    "kp3d_obs_mask": ((NUM_KEYPOINTS,), np.bool_),
    "pin3d": ((NUM_KEYPOINTS, 3), np.float64),  # joints the user pinned in 3D
    "pin3d_mask": ((NUM_KEYPOINTS,), np.bool_),
    "masked": ((), np.bool_),  # frames whose observations the user hid
    "lock_pose": ((3 + POSE_DIM,), np.float64),  # pose kept exactly on locked frames
    "lock_transl": ((3,), np.float64),
    "locked": ((), np.bool_),
    "stale": ((), np.bool_),  # the motion does not yet reflect these frames' conditions
    "global_orient": ((3,), np.float64),  # the motion shown now
    "hand_pose": ((POSE_DIM,), np.float64),
    "transl": ((3,), np.float64),
    "joints": ((NUM_KEYPOINTS, 3), np.float64),
    "uncertainty": ((NUM_KEYPOINTS,), np.float64),  # per-joint spread of the samples, metres
}
MOTION_KEYS = ("global_orient", "hand_pose", "transl", "joints", "uncertainty")


class SessionError(UniHandError, ValueError):
    """An edit that cannot be applied (bad frame, joint or hand); the message says which."""


class SessionFileError(FileFormatError):
    """A session file that is not a valid "unihand.session/1" file; names the file and key."""


# --------------------------------------------------------------------------- settings, history


@dataclass
class InfillSettings:
    """The sampling settings every request of the session uses (the GUI's control panel)."""

    samples: int = 1
    steps: int = 10
    seed: int = 0
    guidance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_GUIDANCE))

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "steps": self.steps, "seed": self.seed, "guidance": self.guidance}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InfillSettings:
        guidance = {k: float(v) for k, v in dict(data.get("guidance", DEFAULT_GUIDANCE)).items()}
        unknown = set(guidance) - set(MODALITIES)
        if unknown:
            raise ValueError(f"settings.guidance: unknown modality {sorted(unknown)[0]!r}")
        return cls(int(data["samples"]), int(data["steps"]), int(data["seed"]), guidance)


@dataclass(frozen=True)
class Change:
    """One per-frame array of one track over frames [start, start + len(before))."""

    hand: str
    key: str
    start: int
    before: np.ndarray
    after: np.ndarray

    @property
    def stop(self) -> int:
        return self.start + len(self.before)


@dataclass
class Entry:
    """One undoable edit: what the user did (kind, params; JSON) and the array changes it made."""

    kind: str
    label: str
    hand: str
    params: dict[str, Any]
    changes: list[Change]


@dataclass(frozen=True)
class EditTicket:
    """A request to run for `hand`, valid while the session is still at `revision`."""

    hand: str
    revision: int
    request: InfillRequest
    label: str


# --------------------------------------------------------------------------- track


class Track:
    """One hand's conditions and motion as per-frame arrays (see TRACK_ARRAYS)."""

    def __init__(
        self,
        handedness: str,
        fps: float,
        hand_model: str,
        betas: np.ndarray,
        arrays: dict[str, np.ndarray],
        image_size: np.ndarray | None = None,
        K: np.ndarray | None = None,
    ) -> None:
        if handedness not in HANDEDNESS:
            raise SessionError(f"handedness: expected 'right' or 'left', got {handedness!r}")
        self.handedness = handedness
        self.fps = float(fps)
        self.hand_model = hand_model
        self.betas = np.asarray(betas, dtype=np.float64).reshape(NUM_BETAS)
        self.image_size = None if image_size is None else np.asarray(image_size, dtype=np.int64)
        self.K = None if K is None else np.asarray(K, dtype=np.float64)
        t = len(arrays["global_orient"])
        self.arrays: dict[str, np.ndarray] = {}
        for key, (shape, dtype) in TRACK_ARRAYS.items():
            value = np.asarray(arrays[key]) if key in arrays else np.zeros((t, *shape), dtype=dtype)
            if value.shape != (t, *shape):
                raise SessionError(f"{key}: expected shape {(t, *shape)}, got {value.shape}")
            self.arrays[key] = np.array(value, dtype=dtype)

    @property
    def num_frames(self) -> int:
        return len(self.arrays["global_orient"])

    @classmethod
    def from_motion(
        cls,
        motion: HandMotion,
        conditions: Conditions | None = None,
        confidence: np.ndarray | None = None,
    ) -> Track:
        """A track showing `motion`, observed through `conditions` (2D/3D keypoints, locked frames).

        `confidence` (T,21) is the detector's per-keypoint confidence, shown on the timeline."""
        t = motion.num_frames
        if conditions is not None and conditions.num_frames != t:
            raise SessionError(f"conditions: {conditions.num_frames} frames, the motion has {t}")
        if conditions is not None and conditions.handedness != motion.handedness:
            raise SessionError(
                f"conditions are for the {conditions.handedness} hand, the motion for the {motion.handedness}"
            )
        arrays: dict[str, np.ndarray] = {
            "global_orient": motion.global_orient,
            "hand_pose": motion.hand_pose,
            "transl": motion.transl,
            "joints": motion.joints,
        }
        if motion.joints_std is not None:
            arrays["uncertainty"] = motion.joints_std
        image_size = k = None
        if conditions is not None:
            if conditions.has("kp2d"):
                mask = conditions.kp2d_mask
                arrays["kp2d_obs"] = np.where(mask[..., None], conditions.kp2d, 0.0)
                arrays["kp2d_obs_mask"] = mask
                image_size, k = conditions.image_size, conditions.K
            if conditions.has("kp3d"):
                mask = conditions.kp3d_mask
                arrays["kp3d_obs"] = np.where(mask[..., None], conditions.kp3d, 0.0)
                arrays["kp3d_obs_mask"] = mask
            if conditions.has("mano"):
                mask = conditions.mano_mask
                arrays["lock_pose"] = np.where(mask[:, None], conditions.mano_pose, 0.0)
                arrays["lock_transl"] = np.where(mask[:, None], conditions.mano_transl, 0.0)
                arrays["locked"] = mask
        if confidence is not None:
            arrays["kp2d_conf"] = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
        elif "kp2d_obs_mask" in arrays:
            arrays["kp2d_conf"] = arrays["kp2d_obs_mask"].astype(np.float64)
        return cls(motion.handedness, motion.fps, motion.hand_model, motion.betas, arrays, image_size, k)

    def conditions(self) -> Conditions:
        """The conditions an infiller sees now (see the module docstring)."""
        a = self.arrays
        t = self.num_frames
        keep = ~a["masked"][:, None]
        channels: dict[str, Any] = {}
        if self.image_size is not None:
            mask = a["drag2d_mask"] | (a["kp2d_obs_mask"] & keep)
            if mask.any():
                kp = np.where(a["drag2d_mask"][..., None], a["drag2d"], a["kp2d_obs"])
                channels.update(kp2d=kp, kp2d_mask=mask, image_size=self.image_size, K=self.K)
        mask = a["pin3d_mask"] | (a["kp3d_obs_mask"] & keep)
        if mask.any():
            kp = np.where(a["pin3d_mask"][..., None], a["pin3d"], a["kp3d_obs"])
            channels.update(kp3d=kp, kp3d_mask=mask)
        if a["locked"].any():
            channels.update(
                mano_pose=a["lock_pose"],
                mano_transl=a["lock_transl"],
                mano_betas=self.betas,
                mano_mask=a["locked"],
            )
        return Conditions(fps=self.fps, num_frames=t, handedness=self.handedness, **channels)

    def motion(self) -> HandMotion:
        """The motion shown now (without samples; the spread is in `arrays["uncertainty"]`)."""
        a = self.arrays
        return HandMotion(
            fps=self.fps,
            handedness=self.handedness,
            hand_model=self.hand_model,
            global_orient=a["global_orient"],
            hand_pose=a["hand_pose"],
            transl=a["transl"],
            betas=self.betas,
            joints=a["joints"],
        )

    def camera_K(self) -> np.ndarray | None:
        """Intrinsics of the video (default ones when only the image size is known)."""
        if self.image_size is None:
            return None
        return self.conditions().camera().K if self.K is None else self.K


# --------------------------------------------------------------------------- session


class Session:
    """Tracks, settings, the video they came from, and the undo history (see the module docstring)."""

    def __init__(
        self,
        tracks: dict[str, Track],
        video: str | None = None,
        settings: InfillSettings | None = None,
        edit_margin: int = 0,
    ) -> None:
        if not tracks:
            raise SessionError("a session needs at least one track")
        for hand, track in tracks.items():
            if hand not in HANDEDNESS or track.handedness != hand:
                raise SessionError(f"track {hand!r}: tracks are keyed by their handedness ('right'/'left')")
        self.tracks = tracks
        self.video = video
        self.settings = settings or InfillSettings()
        self.history: list[Entry] = []
        self.cursor = 0  # history[:cursor] is applied
        self.revision = 0  # bumps on every change of conditions or undo state
        self.dirty = False  # unsaved changes
        self.edit_margin = edit_margin  # extra frames a single-frame edit asks to recompute

    # ----------------------------------------------------------------- queries

    def track(self, hand: str) -> Track:
        if hand not in self.tracks:
            raise SessionError(f"no {hand!r} track in this session (tracks: {sorted(self.tracks)})")
        return self.tracks[hand]

    @property
    def can_undo(self) -> bool:
        return self.cursor > 0

    @property
    def can_redo(self) -> bool:
        return self.cursor < len(self.history)

    @property
    def undo_label(self) -> str | None:
        return self.history[self.cursor - 1].label if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        return self.history[self.cursor].label if self.can_redo else None

    # ----------------------------------------------------------------- edits

    def drag_keypoint(self, hand: str, frame: int, joint: int, uv: tuple[float, float]) -> EditTicket:
        """Move 2D keypoint `joint` of `frame` to pixel `uv`: a 2D condition at that frame."""
        track = self._check(hand, frame, joint)
        if track.image_size is None:
            raise SessionError(f"the {hand} track has no video frames, so no 2D keypoints to drag")
        uv_arr = np.asarray(uv, dtype=np.float64).reshape(2)
        if not np.isfinite(uv_arr).all():
            raise SessionError(f"drag of joint {joint} at frame {frame}: pixel position must be finite")

        def mutate(a: dict[str, np.ndarray]) -> None:
            a["drag2d"][frame, joint] = uv_arr
            a["drag2d_mask"][frame, joint] = True
            a["stale"][frame] = True

        label = f"Drag keypoint {joint} at frame {frame}"
        params = {"frame": frame, "joint": joint, "uv": uv_arr.tolist()}
        self._record(
            "drag_keypoint", label, hand, params, ("drag2d", "drag2d_mask", "stale"), frame, frame + 1, mutate
        )
        return self.ticket(hand, (frame, frame + 1), label)

    def clear_drag(self, hand: str, frame: int, joint: int) -> EditTicket:
        """Drop the user's 2D keypoint at (frame, joint): the detection counts again."""
        self._check(hand, frame, joint)

        def mutate(a: dict[str, np.ndarray]) -> None:
            a["drag2d_mask"][frame, joint] = False
            a["stale"][frame] = True

        label = f"Clear drag of keypoint {joint} at frame {frame}"
        self._record(
            "clear_drag",
            label,
            hand,
            {"frame": frame, "joint": joint},
            ("drag2d_mask", "stale"),
            frame,
            frame + 1,
            mutate,
        )
        return self.ticket(hand, (frame, frame + 1), label)

    def pin_joint(self, hand: str, frame: int, joint: int, xyz: tuple[float, float, float]) -> EditTicket:
        """Pin 3D joint `joint` of `frame` at `xyz` (metres, camera space)."""
        self._check(hand, frame, joint)
        p = np.asarray(xyz, dtype=np.float64).reshape(3)
        if not np.isfinite(p).all():
            raise SessionError(f"pin of joint {joint} at frame {frame}: position must be finite")

        def mutate(a: dict[str, np.ndarray]) -> None:
            a["pin3d"][frame, joint] = p
            a["pin3d_mask"][frame, joint] = True
            a["stale"][frame] = True

        label = f"Pin joint {joint} at frame {frame}"
        params = {"frame": frame, "joint": joint, "xyz": p.tolist()}
        self._record(
            "pin_joint", label, hand, params, ("pin3d", "pin3d_mask", "stale"), frame, frame + 1, mutate
        )
        return self.ticket(hand, (frame, frame + 1), label)

    def unpin_joint(self, hand: str, frame: int, joint: int) -> EditTicket:
        self._check(hand, frame, joint)

        def mutate(a: dict[str, np.ndarray]) -> None:
            a["pin3d_mask"][frame, joint] = False
            a["stale"][frame] = True

        label = f"Unpin joint {joint} at frame {frame}"
        self._record(
            "unpin_joint",
            label,
            hand,
            {"frame": frame, "joint": joint},
            ("pin3d_mask", "stale"),
            frame,
            frame + 1,
            mutate,
        )
        return self.ticket(hand, (frame, frame + 1), label)

    def mask_frames(self, hand: str, start: int, stop: int) -> None:
        """Hide the observations of frames [start, stop) so that a regenerate infills them."""
        self._range_flag(hand, start, stop, "masked", True, "mask_frames", f"Mask frames {start}-{stop - 1}")

    def unmask_frames(self, hand: str, start: int, stop: int) -> None:
        self._range_flag(
            hand, start, stop, "masked", False, "unmask_frames", f"Unmask frames {start}-{stop - 1}"
        )

    def lock_frames(self, hand: str, start: int, stop: int) -> None:
        """Keep the motion of frames [start, stop) exactly as it is now (a MANO condition)."""
        track = self._check_range(hand, start, stop)
        a = track.arrays

        def mutate(arr: dict[str, np.ndarray]) -> None:
            arr["lock_pose"][start:stop] = np.concatenate([a["global_orient"], a["hand_pose"]], axis=1)[
                start:stop
            ]
            arr["lock_transl"][start:stop] = a["transl"][start:stop]
            arr["locked"][start:stop] = True

        label = f"Lock frames {start}-{stop - 1}"
        keys = ("lock_pose", "lock_transl", "locked")
        self._record("lock_frames", label, hand, {"start": start, "stop": stop}, keys, start, stop, mutate)

    def unlock_frames(self, hand: str, start: int, stop: int) -> None:
        self._range_flag(
            hand, start, stop, "locked", False, "unlock_frames", f"Unlock frames {start}-{stop - 1}"
        )

    def regenerate(self, hand: str, start: int, stop: int) -> EditTicket:
        """Recompute the motion of frames [start, stop) from the conditions (an undoable edit)."""
        self._check_range(hand, start, stop)

        def mutate(a: dict[str, np.ndarray]) -> None:
            a["stale"][start:stop] = True

        label = f"Regenerate frames {start}-{stop - 1}"
        self._record(
            "regenerate", label, hand, {"start": start, "stop": stop}, ("stale",), start, stop, mutate
        )
        return self.ticket(hand, (start, stop), label)

    def ticket(
        self,
        hand: str,
        frames: tuple[int, int] | None,
        label: str = "Refresh",
        from_scratch: bool = False,
        vision_video: str | None = None,
    ) -> EditTicket:
        """A request for the current state of `hand` (used by edits, and to refresh stale frames).

        `from_scratch`: generate without the current motion (a first estimate, when what is shown
        is only a placeholder); `frames` must then be None. `vision_video`: the video the
        conditions come from, for an engine that reads its frames too (the first estimate)."""
        track = self.track(hand)
        s = self.settings
        if frames is not None and self.edit_margin:
            frames = (
                max(0, frames[0] - self.edit_margin),
                min(track.num_frames, frames[1] + self.edit_margin),
            )
        request = InfillRequest(
            conditions=track.conditions(),
            previous=None if from_scratch else track.motion(),
            frames=None if from_scratch else frames,
            samples=s.samples,
            seed=s.seed,
            steps=s.steps,
            guidance=dict(s.guidance),
            # The user's drags are met exactly; detections are evidence (engine/editing/refine.py).
            kp2d_hard=track.arrays["drag2d_mask"].copy() if track.image_size is not None else None,
            vision_video=vision_video,
        )
        return EditTicket(hand, self.revision, request, label)

    def stale_range(self, hand: str) -> tuple[int, int] | None:
        """The span of frames whose motion does not reflect their conditions yet."""
        frames = np.flatnonzero(self.track(hand).arrays["stale"])
        return None if len(frames) == 0 else (int(frames[0]), int(frames[-1]) + 1)

    def apply_result(self, ticket: EditTicket, result: InfillResult) -> bool:
        """Show `result` if the session is unchanged since `ticket` was made; False if it is outdated.

        The new motion joins the newest history entry (undo takes back the edit and its motion)."""
        if ticket.revision != self.revision:
            return False
        track = self.track(ticket.hand)
        motion = result.motion
        if motion.num_frames != track.num_frames:
            raise SessionError(
                f"result: {motion.num_frames} frames, the {ticket.hand} track has {track.num_frames}"
            )
        start, stop = result.changed
        start, stop = max(0, int(start)), min(track.num_frames, int(stop))
        if stop <= start:
            return True
        std = (
            motion.joints_std
            if motion.joints_std is not None
            else np.zeros((motion.num_frames, NUM_KEYPOINTS))
        )
        new = {
            "global_orient": motion.global_orient,
            "hand_pose": motion.hand_pose,
            "transl": motion.transl,
            "joints": motion.joints,
            "uncertainty": std,
        }
        changes = []
        a = track.arrays
        for key, value in new.items():
            changes.append(
                Change(ticket.hand, key, start, a[key][start:stop].copy(), value[start:stop].copy())
            )
            a[key][start:stop] = value[start:stop]
        # Frames the request covered now reflect their conditions.
        req = ticket.request.frames or (0, track.num_frames)
        lo, hi = min(start, req[0]), max(stop, req[1])
        changes.append(Change(ticket.hand, "stale", lo, a["stale"][lo:hi].copy(), np.zeros(hi - lo, bool)))
        a["stale"][lo:hi] = False
        if self.cursor > 0:
            self.history[self.cursor - 1].changes.extend(changes)
        self.dirty = True
        return True

    def undo(self) -> Entry | None:
        """Take back the newest applied edit (with the motion it produced); None if there is none."""
        if not self.can_undo:
            return None
        self.cursor -= 1
        entry = self.history[self.cursor]
        for change in reversed(entry.changes):
            self.tracks[change.hand].arrays[change.key][change.start : change.stop] = change.before
        self.revision += 1
        self.dirty = True
        return entry

    def redo(self) -> Entry | None:
        if not self.can_redo:
            return None
        entry = self.history[self.cursor]
        for change in entry.changes:
            self.tracks[change.hand].arrays[change.key][change.start : change.stop] = change.after
        self.cursor += 1
        self.revision += 1
        self.dirty = True
        return entry

    @staticmethod
    def entry_frames(entry: Entry) -> tuple[int, int]:
        """The frames an entry changed (for refreshing views after undo/redo)."""
        return min(c.start for c in entry.changes), max(c.stop for c in entry.changes)

    # ----------------------------------------------------------------- internals

    def _check(self, hand: str, frame: int, joint: int) -> Track:
        track = self.track(hand)
        if not (0 <= int(frame) < track.num_frames):
            raise SessionError(f"frame {frame}: the {hand} track has frames 0-{track.num_frames - 1}")
        if not (0 <= int(joint) < NUM_KEYPOINTS):
            raise SessionError(f"joint {joint}: keypoints are numbered 0-{NUM_KEYPOINTS - 1} (MP21)")
        return track

    def _check_range(self, hand: str, start: int, stop: int) -> Track:
        track = self.track(hand)
        if not (0 <= start < stop <= track.num_frames):
            raise SessionError(
                f"frames {start}-{stop - 1}: need 0 <= start < stop <= {track.num_frames} "
                f"for the {hand} track"
            )
        return track

    def _range_flag(
        self, hand: str, start: int, stop: int, key: str, value: bool, kind: str, label: str
    ) -> None:
        self._check_range(hand, start, stop)

        def mutate(a: dict[str, np.ndarray]) -> None:
            a[key][start:stop] = value
            a["stale"][start:stop] = True

        self._record(kind, label, hand, {"start": start, "stop": stop}, (key, "stale"), start, stop, mutate)

    def _record(self, kind, label, hand, params, keys, start, stop, mutate) -> Entry:
        a = self.tracks[hand].arrays
        before = {k: a[k][start:stop].copy() for k in keys}
        mutate(a)
        changes = [Change(hand, k, start, before[k], a[k][start:stop].copy()) for k in keys]
        entry = Entry(kind, label, hand, params, changes)
        del self.history[self.cursor :]
        self.history.append(entry)
        self.cursor += 1
        self.revision += 1
        self.dirty = True
        return entry

    # ----------------------------------------------------------------- files

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the whole session (tracks, settings, history) atomically; returns the path."""
        out = write_npz_atomic(path, self.snapshot())
        self.dirty = False
        return out

    def snapshot(self) -> dict[str, np.ndarray]:
        """The session file's arrays, independent of later edits: what `save` writes, and what the
        app's autosave hands to a background thread (track arrays are edited in place, so they are
        copied; history arrays are never changed once recorded)."""
        arrays: dict[str, np.ndarray] = {"format": np.array(SESSION_FORMAT)}
        tracks_meta = {}
        for hand, track in self.tracks.items():
            tracks_meta[hand] = {
                "fps": track.fps,
                "hand_model": track.hand_model,
                "num_frames": track.num_frames,
            }
            for key, value in track.arrays.items():
                arrays[f"track.{hand}.{key}"] = np.array(value)
            arrays[f"track.{hand}.betas"] = np.array(track.betas)
            if track.image_size is not None:
                arrays[f"track.{hand}.image_size"] = track.image_size
            if track.K is not None:
                arrays[f"track.{hand}.K"] = track.K
        history = []
        for i, entry in enumerate(self.history):
            changes = []
            for j, c in enumerate(entry.changes):
                arrays[f"history.{i}.{j}.before"] = c.before
                arrays[f"history.{i}.{j}.after"] = c.after
                changes.append({"hand": c.hand, "key": c.key, "start": c.start})
            history.append(
                {
                    "kind": entry.kind,
                    "label": entry.label,
                    "hand": entry.hand,
                    "params": entry.params,
                    "changes": changes,
                }
            )
        header = {
            "video": self.video,
            "settings": self.settings.to_json(),
            "tracks": tracks_meta,
            "history": history,
            "cursor": self.cursor,
            "edit_margin": self.edit_margin,
            "saved_at": time.time(),
        }
        arrays["header"] = np.array(json.dumps(header))
        return arrays

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Session:
        """Read a session file; anything malformed raises `SessionFileError` naming the file and key."""
        path = Path(path)
        if not path.is_file():
            raise SessionFileError(f"{path}: no such session file")
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise SessionFileError(f"{path}: not a readable .npz session file ({exc})") from exc

        def fail(message: str) -> SessionFileError:
            return SessionFileError(f"{path}: {message}")

        fmt = str(data.get("format", ""))
        name, _, version = fmt.partition("/")
        if name != "unihand.session":
            raise fail(f"format: expected {SESSION_FORMAT!r}, got {fmt!r}")
        if not version.isdigit() or int(version) not in SUPPORTED_VERSIONS:
            raise fail(
                f"format: version {version!r} is not supported (this program reads {SUPPORTED_VERSIONS})"
            )
        try:
            header = json.loads(str(data["header"]))
        except (KeyError, json.JSONDecodeError) as exc:
            raise fail(f"header: missing or not JSON ({exc})") from exc
        try:
            tracks = {}
            for hand, meta in header["tracks"].items():
                arrays = {key: data[f"track.{hand}.{key}"] for key in TRACK_ARRAYS}
                tracks[hand] = Track(
                    hand,
                    meta["fps"],
                    meta["hand_model"],
                    data[f"track.{hand}.betas"],
                    arrays,
                    data.get(f"track.{hand}.image_size"),
                    data.get(f"track.{hand}.K"),
                )
            session = cls(tracks, header.get("video"), InfillSettings.from_json(header["settings"]))
            session.edit_margin = int(header.get("edit_margin", 0))
            for i, item in enumerate(header["history"]):
                changes = []
                for j, c in enumerate(item["changes"]):
                    hand, key, start = c["hand"], c["key"], int(c["start"])
                    before, after = data[f"history.{i}.{j}.before"], data[f"history.{i}.{j}.after"]
                    target = tracks[hand].arrays[key]
                    if before.shape != after.shape or before.shape[1:] != target.shape[1:]:
                        raise fail(f"history.{i}.{j}: arrays of shape {before.shape} do not fit {key}")
                    if not (start >= 0 and start + len(before) <= len(target)):
                        raise fail(
                            f"history.{i}.{j}: frames {start}-{start + len(before) - 1} outside the track"
                        )
                    changes.append(Change(hand, key, start, before, after))
                session.history.append(
                    Entry(item["kind"], item["label"], item["hand"], item["params"], changes)
                )
            session.cursor = int(header["cursor"])
            if not 0 <= session.cursor <= len(session.history):
                raise fail(f"cursor: {session.cursor} outside the history of {len(session.history)} edits")
        except KeyError as exc:
            raise fail(f"missing key {exc.args[0]!r}") from exc
        except (SessionError, ValueError, TypeError) as exc:
            if isinstance(exc, SessionFileError):
                raise
            raise fail(str(exc)) from exc
        session.dirty = False
        return session


# --------------------------------------------------------------------------- crash recovery


class RecoveryFile:
    """The autosave: the session written every few seconds while it has unsaved changes, removed
    on a clean exit; a file found at start-up means the last run did not end cleanly."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        if directory is None:
            from engine.paths import user_data_dir

            directory = user_data_dir() / "recovery"
        self.path = Path(directory) / RECOVERY_NAME

    def save(self, session: Session, source: str | None = None) -> Path:
        """Write `session` (remembering the file it was opened from) without clearing its dirty flag."""
        return self.write(session.snapshot(), source)

    def write(self, snapshot: dict[str, np.ndarray], source: str | None = None) -> Path:
        """Write a `Session.snapshot` (safe to call from a background thread)."""
        write_npz_atomic(self.path, snapshot)
        if source is not None:
            self.path.with_suffix(".source").write_text(source, encoding="utf-8")
        else:
            self.path.with_suffix(".source").unlink(missing_ok=True)
        return self.path

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> tuple[Session, str | None]:
        """The recovered session and the file it came from (None for an unsaved one)."""
        session = Session.load(self.path)
        source_file = self.path.with_suffix(".source")
        source = source_file.read_text(encoding="utf-8") if source_file.is_file() else None
        session.dirty = True  # recovered edits are not in any saved file yet
        return session, source

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".source").unlink(missing_ok=True)


# --------------------------------------------------------------------------- plausibility lints


def jitter_frames(joints: np.ndarray, fps: float, threshold: float = 20.0) -> np.ndarray:
    """(T,) bool: frames where some joint's acceleration exceeds `threshold` m/s^2 (a pop or spike)."""
    joints = np.asarray(joints, dtype=np.float64)
    flags = np.zeros(len(joints), dtype=bool)
    if len(joints) < 3:
        return flags
    acc = np.linalg.norm(joints[2:] - 2 * joints[1:-1] + joints[:-2], axis=-1).max(axis=-1) * fps * fps
    flags[1:-1] = acc > threshold
    return flags


def joint_limit_frames(
    hand_pose: np.ndarray, handedness: str, hand_model: str, tol_deg: float = 5.0
) -> np.ndarray:
    """(T,) bool: frames with a finger angle more than `tol_deg` outside the anatomical limits."""
    from engine.hand.joint_limits import AnatomicalFrames, limit_violation
    from engine.hand.registry import get_hand_model_data

    frames = AnatomicalFrames.from_hand(get_hand_model_data(hand_model, "right"))
    violation = limit_violation(np.asarray(hand_pose), frames, handedness)
    return np.any(violation > np.radians(tol_deg), axis=(-1, -2))
