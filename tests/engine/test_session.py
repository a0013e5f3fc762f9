"""Session: edits become conditions and requests, undo/redo restores exactly, results apply only
to the state they were made for, session files round-trip (history included) and refuse bad input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.editing.request import InfillResult
from engine.editing.session import (
    RecoveryFile,
    Session,
    SessionError,
    SessionFileError,
    Track,
    jitter_frames,
    joint_limit_frames,
)
from engine.motion.camera import Camera
from engine.motion.types import Conditions, HandMotion
from tests.engine.motion_fixtures import random_motion

T = 40


def _session(hands: tuple[str, ...] = ("right",)) -> Session:
    tracks = {}
    for i, hand in enumerate(hands):
        motion = random_motion(T, seed=i, handedness=hand)
        camera = Camera.default(640, 480)
        kp2d = np.random.default_rng(i).uniform(100, 400, (T, 21, 2))
        mask = np.ones((T, 21), bool)
        mask[30:35] = False
        kp2d[30:35] = np.nan  # under a false mask: allowed, never read
        cond = Conditions(
            fps=30,
            num_frames=T,
            handedness=hand,
            kp2d=kp2d,
            kp2d_mask=mask,
            image_size=np.array(camera.image_size),
        )
        tracks[hand] = Track.from_motion(motion, cond)
    return Session(tracks)


def _moved(motion: HandMotion, frames: tuple[int, int], offset: float) -> InfillResult:
    """A result that moves the frames of `frames` (what an infiller would hand back)."""
    s, e = frames
    transl = motion.transl.copy()
    transl[s:e] += offset
    joints = motion.joints.copy()
    joints[s:e] += offset
    return InfillResult(motion.replace(transl=transl, joints=joints), (s, e), 0.01)


def test_drag_becomes_a_2d_condition_and_a_request_for_its_frame() -> None:
    s = _session()
    ticket = s.drag_keypoint("right", 10, 8, (321.0, 123.0))
    req = ticket.request
    assert req.frames == (10, 11)
    assert req.previous is not None and req.previous.num_frames == T
    np.testing.assert_array_equal(req.conditions.kp2d[10, 8], [321.0, 123.0])
    assert req.conditions.kp2d_mask[10, 8]
    assert s.track("right").arrays["stale"][10]
    assert s.undo_label == "Drag keypoint 8 at frame 10"


def test_result_then_undo_restores_conditions_and_motion_exactly_and_redo_reapplies() -> None:
    s = _session()
    track = s.track("right")
    before = {k: v.copy() for k, v in track.arrays.items()}
    ticket = s.drag_keypoint("right", 10, 8, (321.0, 123.0))
    assert s.apply_result(ticket, _moved(ticket.request.previous, (5, 16), 0.01))
    after = {k: v.copy() for k, v in track.arrays.items()}
    assert not after["stale"][10]
    assert not np.array_equal(after["joints"], before["joints"])
    s.undo()
    for key, value in before.items():
        np.testing.assert_array_equal(track.arrays[key], value, err_msg=key)
    s.redo()
    for key, value in after.items():
        np.testing.assert_array_equal(track.arrays[key], value, err_msg=key)


def test_a_result_for_an_outdated_state_is_refused() -> None:
    s = _session()
    first = s.drag_keypoint("right", 10, 8, (321.0, 123.0))
    s.drag_keypoint("right", 11, 8, (322.0, 124.0))
    joints = s.track("right").arrays["joints"].copy()
    assert not s.apply_result(first, _moved(first.request.previous, (5, 16), 0.01))
    np.testing.assert_array_equal(s.track("right").arrays["joints"], joints)
    undone = s.drag_keypoint("right", 12, 8, (1.0, 1.0))
    s.undo()
    assert not s.apply_result(undone, _moved(undone.request.previous, (5, 16), 0.01))


def test_mask_hides_observations_but_keeps_drags_and_unmask_restores_them() -> None:
    s = _session()
    s.drag_keypoint("right", 12, 3, (200.0, 200.0))
    s.mask_frames("right", 10, 20)
    cond = s.track("right").conditions()
    assert not cond.kp2d_mask[10:20].any(axis=None) or cond.kp2d_mask[10:20].sum() == 1
    assert cond.kp2d_mask[12, 3] and cond.kp2d_mask[:10].all()
    assert s.stale_range("right") == (10, 20)
    s.unmask_frames("right", 10, 20)
    assert s.track("right").conditions().kp2d_mask[10:20].all()
    # frames 30-34 were never observed: unmasking does not invent observations there
    s.unmask_frames("right", 25, 40)
    assert not s.track("right").conditions().kp2d_mask[30:35].any()


def test_lock_keeps_the_current_pose_as_a_mano_condition() -> None:
    s = _session()
    s.lock_frames("right", 5, 9)
    cond = s.track("right").conditions()
    motion = s.track("right").motion()
    assert cond.mano_mask.tolist() == [5 <= i < 9 for i in range(T)]
    np.testing.assert_array_equal(cond.mano_pose[5:9, 3:], motion.hand_pose[5:9])
    np.testing.assert_array_equal(cond.mano_transl[5:9], motion.transl[5:9])
    s.unlock_frames("right", 5, 7)
    assert s.track("right").conditions().mano_mask.sum() == 2


def test_pins_and_unpins_are_3d_conditions() -> None:
    s = _session()
    ticket = s.pin_joint("right", 7, 4, (0.01, 0.02, 0.5))
    assert ticket.request.conditions.kp3d_mask.sum() == 1
    np.testing.assert_array_equal(ticket.request.conditions.kp3d[7, 4], [0.01, 0.02, 0.5])
    assert not s.unpin_joint("right", 7, 4).request.conditions.has("kp3d")


def test_regenerate_requests_its_range_and_edit_margin_widens_single_frame_edits() -> None:
    s = _session()
    assert s.regenerate("right", 3, 9).request.frames == (3, 9)
    s.edit_margin = 2
    assert s.drag_keypoint("right", 0, 0, (1.0, 2.0)).request.frames == (0, 3)


def test_settings_reach_the_request() -> None:
    s = _session()
    s.settings.steps, s.settings.samples, s.settings.seed = 25, 3, 9
    s.settings.guidance["kp2d"] = 4.5
    req = s.regenerate("right", 0, 5).request
    assert (req.steps, req.samples, req.seed, req.guidance["kp2d"]) == (25, 3, 9, 4.5)


def test_hands_are_edited_independently() -> None:
    s = _session(("right", "left"))
    left = {k: v.copy() for k, v in s.track("left").arrays.items()}
    ticket = s.drag_keypoint("right", 10, 8, (321.0, 123.0))
    s.apply_result(ticket, _moved(ticket.request.previous, (0, T), 0.05))
    s.mask_frames("right", 0, 10)
    for key, value in left.items():
        np.testing.assert_array_equal(s.track("left").arrays[key], value, err_msg=key)
    assert s.track("left").handedness == "left"


def test_bad_edits_name_what_is_wrong() -> None:
    s = _session()
    with pytest.raises(SessionError, match="frame 99"):
        s.drag_keypoint("right", 99, 0, (1.0, 1.0))
    with pytest.raises(SessionError, match="joint 21"):
        s.pin_joint("right", 0, 21, (0.0, 0.0, 0.5))
    with pytest.raises(SessionError, match="'left'"):
        s.mask_frames("left", 0, 3)
    with pytest.raises(SessionError, match="frames 5-4"):
        s.regenerate("right", 5, 5)
    assert not s.can_undo  # nothing half-applied


def test_session_file_round_trip_keeps_tracks_settings_and_history(tmp_path: Path) -> None:
    s = _session(("right", "left"))
    s.settings.steps = 17
    ticket = s.drag_keypoint("right", 10, 8, (321.0, 123.0))
    s.apply_result(ticket, _moved(ticket.request.previous, (5, 16), 0.01))
    s.mask_frames("right", 20, 25)
    s.lock_frames("left", 0, 4)
    s.undo()
    path = s.save(tmp_path / "edit.unihand.npz")
    assert not s.dirty
    assert [p.name for p in tmp_path.iterdir()] == ["edit.unihand.npz"]  # no temp file left behind
    loaded = Session.load(path)
    assert loaded.settings.steps == 17 and loaded.cursor == 2 and len(loaded.history) == 3
    for hand in ("right", "left"):
        for key, value in s.track(hand).arrays.items():
            np.testing.assert_array_equal(loaded.track(hand).arrays[key], value, err_msg=key)
    # the loaded history undoes and redoes like the original
    loaded.undo()
    s.undo()
    np.testing.assert_array_equal(loaded.track("right").arrays["joints"], s.track("right").arrays["joints"])
    loaded.redo()
    loaded.redo()
    assert loaded.track("left").arrays["locked"][:4].all()


def test_session_files_are_never_unpickled_and_bad_ones_are_named(tmp_path: Path) -> None:
    s = _session()
    path = s.save(tmp_path / "s.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{**arrays, "format": np.array("unihand.session/9")})
    with pytest.raises(SessionFileError, match="version '9'"):
        Session.load(bad)
    np.savez(bad, **{**arrays, "format": np.array("unihand.motion/1")})
    with pytest.raises(SessionFileError, match=r"bad\.npz: format"):
        Session.load(bad)
    missing = {k: v for k, v in arrays.items() if k != "track.right.joints"}
    np.savez(bad, **missing)
    with pytest.raises(SessionFileError, match=r"track\.right\.joints"):
        Session.load(bad)
    np.savez(bad, **{**arrays, "header": np.array([object()], dtype=object)})
    with pytest.raises(SessionFileError, match=r"bad\.npz"):
        Session.load(bad)
    header = json.loads(str(arrays["header"]))
    header["cursor"] = 5
    np.savez(bad, **{**arrays, "header": np.array(json.dumps(header))})
    with pytest.raises(SessionFileError, match="cursor"):
        Session.load(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(SessionFileError, match=r"junk\.npz"):
        Session.load(tmp_path / "junk.npz")
    assert zipfile.is_zipfile(path)


def test_recovery_file_survives_and_clears(tmp_path: Path) -> None:
    rec = RecoveryFile(tmp_path / "recovery")
    assert not rec.exists()
    s = _session()
    s.drag_keypoint("right", 3, 2, (10.0, 20.0))
    rec.save(s, source="/somewhere/clip.unihand.npz")
    assert s.dirty  # the autosave is not a save
    recovered, source = rec.load()
    assert source == "/somewhere/clip.unihand.npz" and recovered.dirty
    assert recovered.track("right").arrays["drag2d_mask"][3, 2]
    rec.clear()
    assert not rec.exists()


def test_recovery_directory_defaults_to_the_user_data_dir(_isolated_user_data: Path) -> None:
    assert RecoveryFile().path.is_relative_to(_isolated_user_data)


def test_lints_flag_jitter_spikes_and_joint_limit_violations() -> None:
    joints = np.zeros((30, 21, 3))
    joints[:, :, 0] = np.linspace(0, 0.1, 30)[:, None]  # smooth motion: no flag
    assert not jitter_frames(joints, 30.0).any()
    joints[15, 8] += 0.03  # a 3 cm pop at one frame
    assert jitter_frames(joints, 30.0).tolist() == [i in (14, 15, 16) for i in range(30)]
    pose = np.zeros((4, 45))
    pose[2, 3:6] = [0.0, 0.0, -2.5]  # index finger bent far backwards
    flags = joint_limit_frames(pose, "right", "default")
    assert flags[2] and not flags[[0, 1, 3]].any()
