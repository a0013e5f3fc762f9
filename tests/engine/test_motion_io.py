"""Conditions and motion files: round trips, atomic writes, and a strict, well-worded validator."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import FileFormatError
from engine.motion import (
    CONDITIONS_FORMAT,
    MOTION_FORMAT,
    Conditions,
    HandMotion,
    file_format,
    load_conditions,
    load_motion,
    save_conditions,
    save_motion,
)
from engine.motion import io as motion_io

FLOAT_KEYS = {
    "fps", "kp3d", "kp2d", "image_size", "K", "mano_pose", "mano_transl", "mano_betas",
    "global_orient", "hand_pose", "transl", "betas", "joints", "joints_samples", "joints_std",
}  # fmt: skip
MASK_KEYS = {"kp3d_mask", "kp2d_mask", "mano_mask"}
STRING_KEYS = {"format", "handedness", "hand_model"}
INT_KEYS = {"num_frames"}
# Keys whose absence is itself valid (a default applies).
OPTIONAL_ALONE = {"K", "handedness"}

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- builders


@st.composite
def conditions_strategy(draw: st.DrawFn) -> Conditions:
    """Random valid conditions: any subset of channels, random masks, junk under false masks."""
    t = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    fill = draw(st.sampled_from([np.nan, np.inf, 0.0, 1e30]))

    def masked(shape: tuple[int, ...], mask: np.ndarray) -> np.ndarray:
        data = rng.normal(size=shape)
        data[~mask] = fill
        return data

    def mask(shape: tuple[int, ...]) -> np.ndarray:
        return rng.random(shape) < draw(st.floats(0.0, 1.0))

    fields: dict = {
        "fps": draw(st.sampled_from([10.0, 24.0, 25.0, 29.97, 30.0, 60.0]) | st.floats(0.5, 240.0)),
        "num_frames": t,
        "handedness": draw(st.sampled_from(["right", "left"])),
    }
    if draw(st.booleans()):
        m = mask((t, 21))
        fields.update(kp3d=masked((t, 21, 3), m), kp3d_mask=m)
    if draw(st.booleans()):
        m = mask((t, 21))
        size = rng.integers(1, 4000, size=2)
        fields.update(kp2d=masked((t, 21, 2), m) * size, kp2d_mask=m, image_size=size)
        if draw(st.booleans()):
            fields["K"] = np.array([[1000.0, 0, size[0] / 2], [0, 990.0, size[1] / 2], [0, 0, 1]])
    if draw(st.booleans()):
        m = mask((t,))
        fields.update(
            mano_pose=masked((t, 48), m),
            mano_transl=masked((t, 3), m),
            mano_betas=rng.normal(size=10),
            mano_mask=m,
        )
    return Conditions(**fields)


@st.composite
def motion_strategy(draw: st.DrawFn) -> HandMotion:
    t = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    samples = draw(st.integers(0, 3))
    extra = {}
    if samples:
        extra = {
            "joints_samples": rng.normal(size=(samples, t, 21, 3)),
            "joints_std": rng.uniform(0, 0.01, size=(t, 21)),
        }
    return HandMotion(
        fps=draw(st.sampled_from([24.0, 30.0, 60.0]) | st.floats(0.5, 240.0)),
        handedness=draw(st.sampled_from(["right", "left"])),
        hand_model=draw(st.sampled_from(["default", "mano", "MANO_RIGHT", "procedural hand ✋"])),
        global_orient=rng.normal(size=(t, 3)),
        hand_pose=rng.normal(size=(t, 45)),
        transl=rng.normal(size=(t, 3)),
        betas=rng.normal(size=10),
        joints=rng.normal(size=(t, 21, 3)),
        **extra,
    )


def _example_conditions(num_frames: int = 5) -> Conditions:
    rng = np.random.default_rng(0)
    kp3d_mask = np.ones((num_frames, 21), dtype=bool)
    kp3d_mask[1, :4] = False
    kp3d = rng.normal(size=(num_frames, 21, 3))
    kp3d[~kp3d_mask] = np.nan
    return Conditions(
        fps=30.0,
        num_frames=num_frames,
        kp3d=kp3d,
        kp3d_mask=kp3d_mask,
        kp2d=rng.uniform(0, 500, size=(num_frames, 21, 2)),
        kp2d_mask=np.ones((num_frames, 21), dtype=bool),
        image_size=np.array([640, 480]),
        mano_pose=np.zeros((num_frames, 48)),
        mano_transl=np.zeros((num_frames, 3)),
        mano_betas=np.zeros(10),
        mano_mask=np.arange(num_frames) % 2 == 0,
    )


def _example_motion(num_frames: int = 5) -> HandMotion:
    rng = np.random.default_rng(1)
    return HandMotion(
        fps=30.0,
        handedness="right",
        hand_model="default",
        global_orient=rng.normal(size=(num_frames, 3)),
        hand_pose=rng.normal(size=(num_frames, 45)),
        transl=rng.normal(size=(num_frames, 3)),
        betas=np.zeros(10),
        joints=rng.normal(size=(num_frames, 21, 3)),
        joints_samples=rng.normal(size=(2, num_frames, 21, 3)),
        joints_std=np.ones((num_frames, 21)) * 0.01,
    )


def _arrays_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _write_raw(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)  # pickles allowed here on purpose: the loader must refuse them
    return path


@pytest.fixture
def cond_arrays(tmp_path: Path) -> dict[str, np.ndarray]:
    return _arrays_of(save_conditions(tmp_path / "valid.npz", _example_conditions()))


@pytest.fixture
def motion_arrays(tmp_path: Path) -> dict[str, np.ndarray]:
    return _arrays_of(save_motion(tmp_path / "valid.npz", _example_motion()))


# --------------------------------------------------------------------------- round trips


def test_conditions_round_trip(tmp_path: Path) -> None:
    cond = _example_conditions()
    path = save_conditions(tmp_path / "c.npz", cond)
    assert path == tmp_path / "c.npz"
    loaded = load_conditions(path)
    assert loaded == cond
    assert np.isnan(loaded.kp3d[1, :4]).all()  # NaN under false masks is kept as written
    arrays = _arrays_of(path)
    assert str(arrays["format"]) == CONDITIONS_FORMAT and arrays["format"].dtype.kind == "U"
    assert arrays["format"].shape == () and arrays["num_frames"].dtype == np.int64
    assert "K" not in arrays and file_format(path) == CONDITIONS_FORMAT


def test_motion_round_trip(tmp_path: Path) -> None:
    motion = _example_motion()
    path = save_motion(tmp_path / "sub" / "m.npz", motion)  # parent folders are created
    assert load_motion(path) == motion
    assert file_format(path) == MOTION_FORMAT
    single = motion.replace(joints_samples=None, joints_std=None)
    assert load_motion(save_motion(path, single)) == single


def test_empty_conditions_round_trip(tmp_path: Path) -> None:
    cond = Conditions(fps=24.0, num_frames=12, handedness="left")
    assert load_conditions(save_conditions(tmp_path / "c.npz", cond)) == cond


@SETTINGS
@given(cond=conditions_strategy())
def test_conditions_round_trip_property(cond: Conditions) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_conditions(save_conditions(Path(tmp) / "c.npz", cond))
    assert loaded == cond


@SETTINGS
@given(motion=motion_strategy())
def test_motion_round_trip_property(motion: HandMotion) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_motion(save_motion(Path(tmp) / "m.npz", motion))
    assert loaded == motion


def test_integer_and_float32_arrays_are_accepted(tmp_path: Path, cond_arrays: dict) -> None:
    arrays = dict(cond_arrays)
    arrays["mano_transl"] = np.zeros((5, 3), dtype=np.int32)
    arrays["kp2d"] = arrays["kp2d"].astype(np.float32)
    arrays["fps"] = np.array(30, dtype=np.int64)
    arrays["image_size"] = np.array([640.0, 480.0])
    cond = load_conditions(_write_raw(tmp_path / "c.npz", arrays))
    assert cond.mano_transl.dtype == cond.kp2d.dtype == np.float64
    assert cond.fps == 30.0 and cond.image_size.dtype == np.int64


def test_missing_handedness_means_right(tmp_path: Path, cond_arrays: dict) -> None:
    arrays = {k: v for k, v in cond_arrays.items() if k != "handedness"}
    assert load_conditions(_write_raw(tmp_path / "c.npz", arrays)).handedness == "right"


# --------------------------------------------------------------------------- atomic writes


def test_failed_save_leaves_existing_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_conditions(tmp_path / "c.npz", _example_conditions())
    before = path.read_bytes()

    def broken_savez(fh: BinaryIO, **arrays: np.ndarray) -> None:
        fh.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(motion_io.np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_conditions(path, _example_conditions(7))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_failed_rename_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: str, dst: str) -> None:
        raise PermissionError("read-only target")

    monkeypatch.setattr(motion_io.os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        save_motion(tmp_path / "m.npz", _example_motion())
    assert list(tmp_path.iterdir()) == []


def test_saved_file_respects_umask(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = save_motion(tmp_path / "m.npz", _example_motion())
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_save_needs_the_right_type(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="needs Conditions"):
        save_conditions(tmp_path / "c.npz", _example_motion())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a HandMotion"):
        save_motion(tmp_path / "m.npz", _example_conditions())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- validation messages


def _expect_error(path: Path, loader: Callable[[Path], object], message: str) -> None:
    with pytest.raises(FileFormatError, match=message) as info:
        loader(path)
    assert str(path) in str(info.value)


def test_not_an_npz(tmp_path: Path) -> None:
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    _expect_error(text, load_conditions, r"not an \.npz \(zip\) archive")
    npy = tmp_path / "array.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.zeros(3))
    _expect_error(npy, load_motion, r"a single \.npy array")
    _expect_error(tmp_path / "absent.npz", load_conditions, "file not found")
    _expect_error(tmp_path, load_conditions, "is a directory")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    _expect_error(empty, load_motion, "not an .npz")


def test_truncated_archive(tmp_path: Path) -> None:
    path = save_conditions(tmp_path / "c.npz", _example_conditions())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, load_conditions, r"not a readable \.npz archive")


def test_pickled_objects_are_refused(tmp_path: Path, cond_arrays: dict) -> None:
    arrays = dict(cond_arrays)
    arrays["kp3d"] = np.array([{"evil": "payload"}], dtype=object)
    _expect_error(_write_raw(tmp_path / "c.npz", arrays), load_conditions, "contains pickled objects")


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        (
            "unihand.conditions/2",
            r"unsupported version '2' \(this program reads unihand.conditions version 1\)",
        ),
        ("unihand.conditions/1.0", "unsupported version '1.0'"),
        ("unihand.conditions", "unsupported version ''"),
        ("unihand.motion/1", "expected 'unihand.conditions/1'; it is a unihand.motion file"),
        ("numpy", "format is 'numpy', expected 'unihand.conditions/1'"),
    ],
)
def test_format_and_version(tmp_path: Path, cond_arrays: dict, fmt: str, message: str) -> None:
    arrays = {**cond_arrays, "format": np.array(fmt)}
    _expect_error(_write_raw(tmp_path / "c.npz", arrays), load_conditions, message)


def test_missing_format(tmp_path: Path, cond_arrays: dict) -> None:
    arrays = {k: v for k, v in cond_arrays.items() if k != "format"}
    path = _write_raw(tmp_path / "c.npz", arrays)
    _expect_error(path, load_conditions, "missing key 'format'")
    _expect_error(path, file_format, "missing key 'format'")
    bytes_format = {**cond_arrays, "format": np.array(b"unihand.conditions/1")}
    _expect_error(_write_raw(tmp_path / "b.npz", bytes_format), load_conditions, "must be a unicode string")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fps": None}, r"missing required key\(s\) \['fps'\]"),
        ({"num_frames": None}, r"missing required key\(s\) \['num_frames'\]"),
        ({"kp3d_msk": np.zeros(2)}, r"unknown key\(s\) \['kp3d_msk'\]"),
        ({"kp3d": np.zeros((5, 21, 2))}, r"kp3d: expected shape \(5, 21, 3\), got \(5, 21, 2\)"),
        ({"kp2d": np.zeros((4, 21, 2))}, r"kp2d: has 4 frames, expected 5 \(num_frames\)"),
        ({"num_frames": np.array(6)}, r"has 5 frames, expected 6 \(num_frames\)"),
        ({"kp3d_mask": np.ones((5, 21), dtype=np.int64)}, "kp3d_mask: expected a bool mask, got dtype int64"),
        ({"mano_mask": np.ones(5)}, "mano_mask: expected a bool mask, got dtype float64"),
        ({"kp2d": np.zeros((5, 21, 2), dtype=bool)}, "kp2d: expected a float array, got dtype bool"),
        ({"mano_pose": np.zeros((5, 48), dtype=complex)}, "mano_pose: expected a float array"),
        ({"num_frames": np.array(5.0)}, "'num_frames' must be an integer, got dtype float64"),
        ({"fps": np.array([30.0])}, r"'fps' must be a single value \(shape \(\)\), got shape \(1,\)"),
        ({"fps": np.array(-30.0)}, "fps: must be a positive finite number"),
        ({"handedness": np.array("both")}, "handedness: expected 'right' or 'left', got 'both'"),
        ({"kp3d": None}, "kp3d: missing; kp3d_mask needs kp3d, kp3d_mask"),
        ({"kp3d_mask": None}, "kp3d_mask: missing; kp3d needs kp3d, kp3d_mask"),
        ({"image_size": None}, "image_size: missing"),
        ({"mano_transl": None}, "mano_transl: missing"),
        ({"image_size": np.array([640, 480, 3])}, r"image_size: expected shape \(2,\), got \(3,\)"),
        ({"mano_betas": np.zeros(16)}, r"mano_betas: expected shape \(10,\), got \(16,\)"),
    ],
)
def test_conditions_errors(tmp_path: Path, cond_arrays: dict, change: dict, message: str) -> None:
    arrays = {**cond_arrays, **change}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    _expect_error(_write_raw(tmp_path / "c.npz", arrays), load_conditions, message)


def test_nan_under_true_mask_names_key_frame_joint(tmp_path: Path, cond_arrays: dict) -> None:
    kp3d = cond_arrays["kp3d"].copy()
    kp3d[3, 7, 2] = np.nan
    _expect_error(
        _write_raw(tmp_path / "a.npz", {**cond_arrays, "kp3d": kp3d}),
        load_conditions,
        "kp3d: NaN or inf under a true mask at frame 3, joint 7",
    )
    pose = cond_arrays["mano_pose"].copy()
    pose[1, 0] = np.nan  # frame 1 is unobserved in mano_mask: fine
    pose[2, 5] = np.inf
    _expect_error(
        _write_raw(tmp_path / "b.npz", {**cond_arrays, "mano_pose": pose}),
        load_conditions,
        "mano_pose: NaN or inf under a true mask at frame 2",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hand_model": None}, r"missing required key\(s\) \['hand_model'\]"),
        ({"handedness": None}, r"missing required key\(s\) \['handedness'\]"),
        ({"num_frames": np.array(5)}, r"unknown key\(s\) \['num_frames'\]"),
        ({"joints_std": None}, "joints_std: missing; joints_samples and joints_std come together"),
        ({"joints_samples": None}, "joints_samples: missing"),
        ({"hand_pose": np.zeros((5, 15, 3))}, r"hand_pose: expected shape \(5, 45\), got \(5, 15, 3\)"),
        ({"joints": np.zeros((6, 21, 3))}, r"joints: has 6 frames, expected 5 \(frames of global_orient\)"),
        ({"joints_samples": np.zeros((2, 4, 21, 3))}, r"joints_samples: expected shape \(2, 5, 21, 3\)"),
        ({"betas": np.zeros(10, dtype=bool)}, "betas: expected a float array, got dtype bool"),
        ({"hand_model": np.array(3.0)}, "'hand_model' must be a unicode string"),
        ({"handedness": np.array("Left")}, "handedness: expected 'right' or 'left', got 'Left'"),
        ({"format": np.array("unihand.motion/2")}, "unsupported version '2'"),
        ({"format": np.array("unihand.conditions/1")}, "it is a unihand.conditions file"),
    ],
)
def test_motion_errors(tmp_path: Path, motion_arrays: dict, change: dict, message: str) -> None:
    arrays = {**motion_arrays, **change}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    _expect_error(_write_raw(tmp_path / "m.npz", arrays), load_motion, message)


def test_motion_nan_names_frame(tmp_path: Path, motion_arrays: dict) -> None:
    transl = motion_arrays["transl"].copy()
    transl[4, 1] = np.nan
    _expect_error(
        _write_raw(tmp_path / "m.npz", {**motion_arrays, "transl": transl}),
        load_motion,
        "transl: NaN or inf at frame 4",
    )


# --------------------------------------------------------------------------- fuzzing the validator


def _reshape(arr: np.ndarray, draw: st.DrawFn, key: str) -> np.ndarray:
    """`arr` with a different shape (a value of the wrong shape for `key`)."""
    if arr.ndim == 0:
        return arr.reshape(1)
    if draw(st.booleans()):
        return arr[..., None]
    # The sample count of joints_samples is free, so change another axis there.
    axis = draw(st.integers(1 if key == "joints_samples" else 0, arr.ndim - 1))
    if arr.shape[axis] > 1 and draw(st.booleans()):
        return np.take(arr, range(arr.shape[axis] - 1), axis=axis)
    return np.concatenate([arr, np.take(arr, [-1], axis=axis)], axis=axis)


def _bad_dtype(arr: np.ndarray, draw: st.DrawFn, key: str) -> np.ndarray:
    if key in STRING_KEYS:
        return draw(st.sampled_from([np.array(1.0), np.array(str(arr).encode()), np.array(7)]))
    if key in MASK_KEYS:
        return arr.astype(draw(st.sampled_from([np.int8, np.uint8, np.int64, np.float32, np.float64])))
    if key in INT_KEYS:
        return arr.astype(draw(st.sampled_from([np.float64, np.float32, bool, str])))
    assert key in FLOAT_KEYS, key
    return arr.astype(draw(st.sampled_from([bool, np.complex128, str])))


def _nan_under_true_mask(arrays: dict, draw: st.DrawFn) -> bool:
    """Put NaN/inf where a value counts; False if the file has no such place."""
    bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    targets = []
    for data_key, mask_key in (("kp3d", "kp3d_mask"), ("kp2d", "kp2d_mask")):
        if data_key in arrays and arrays[mask_key].any():
            targets.append((data_key, mask_key))
    if "mano_mask" in arrays:
        targets.append(("mano_betas", None))
        if arrays["mano_mask"].any():
            targets += [("mano_pose", "mano_mask"), ("mano_transl", "mano_mask")]
    for key in ("global_orient", "hand_pose", "transl", "betas", "joints", "joints_samples", "joints_std"):
        if key in arrays:
            targets.append((key, None))
    if not targets:
        return False
    key, mask_key = draw(st.sampled_from(targets))
    data = arrays[key].astype(np.float64)
    if mask_key is None:
        flat_index = draw(st.integers(0, data.size - 1))
        data.reshape(-1)[flat_index] = bad
    else:
        observed = np.argwhere(arrays[mask_key])
        where = tuple(observed[draw(st.integers(0, len(observed) - 1))])
        data[where] = bad  # every value of that joint/frame
    arrays[key] = data
    return True


CORRUPTIONS = ["delete", "reshape", "dtype", "nan", "version", "extra", "pickle", "value"]


def _draw_key(keys: list[str], draw: st.DrawFn) -> str:
    """A key, drawn by kind first so that the few masks and strings are drawn as often as floats."""
    groups = [g for g in (FLOAT_KEYS, MASK_KEYS, STRING_KEYS, INT_KEYS) if g & set(keys)]
    group = draw(st.sampled_from(groups))
    return draw(st.sampled_from(sorted(group & set(keys))))


@pytest.mark.parametrize("corruption", CORRUPTIONS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["conditions", "motion"]),
    cond=conditions_strategy(),
    motion=motion_strategy(),
    data=st.data(),
)
def test_validator_refuses_every_corruption(
    corruption: str, kind: str, cond: Conditions, motion: HandMotion, data: st.DataObject
) -> None:
    """Each corruption of a valid file makes it invalid; the loader must say so, as FileFormatError."""
    draw = data.draw
    with tempfile.TemporaryDirectory() as tmp:
        valid = Path(tmp) / "valid.npz"
        if kind == "conditions":
            save_conditions(valid, cond)
            loader, fmt_name = load_conditions, "unihand.conditions"
        else:
            save_motion(valid, motion)
            loader, fmt_name = load_motion, "unihand.motion"
        arrays = _arrays_of(valid)
        keys = sorted(arrays)
        if corruption == "delete":
            key = draw(st.sampled_from([k for k in keys if k not in OPTIONAL_ALONE]))
            del arrays[key]
        elif corruption == "reshape":
            key = _draw_key(keys, draw)
            arrays[key] = _reshape(arrays[key], draw, key)
        elif corruption == "dtype":
            key = _draw_key(keys, draw)
            arrays[key] = _bad_dtype(arrays[key], draw, key)
        elif corruption == "nan":
            placed = _nan_under_true_mask(arrays, draw)
            if not placed:  # nothing observed anywhere: corrupt fps instead
                arrays["fps"] = np.array(draw(st.sampled_from([np.nan, np.inf, 0.0, -1.0])))
        elif corruption == "version":
            other = "unihand.motion" if kind == "conditions" else "unihand.conditions"
            arrays["format"] = np.array(
                draw(
                    st.sampled_from(
                        [f"{fmt_name}/2", f"{fmt_name}/0", f"{fmt_name}/1.0", f"{fmt_name}/", fmt_name,
                         f"{other}/1", f" {fmt_name}/1", f"{fmt_name.upper()}/1", ""]
                    )
                )
            )  # fmt: skip
        elif corruption == "extra":
            arrays[draw(st.sampled_from(["extra", "Kp3d", "kp3d_msk", "notes", "joints2"]))] = np.zeros(3)
        elif corruption == "pickle":
            key = _draw_key(keys, draw)
            arrays[key] = np.array([None, {"x": 1}], dtype=object)
        elif corruption == "value":
            options = [("handedness", np.array("Right")), ("fps", np.array(0.0))]
            if kind == "conditions":
                options += [("num_frames", np.array(0)), ("num_frames", np.array(-3))]
                if "image_size" in arrays:
                    options += [("image_size", np.array([0, 480])), ("image_size", np.array([640.5, 480.0]))]
            else:
                options += [("hand_model", np.array(""))]
                if "joints_std" in arrays:
                    options += [("joints_std", -np.ones_like(arrays["joints_std"]))]
            key, value = draw(st.sampled_from(options))
            arrays[key] = value
        corrupted = _write_raw(Path(tmp) / "bad.npz", arrays)
        with pytest.raises(FileFormatError) as info:
            loader(corrupted)
        assert str(corrupted) in str(info.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cond=conditions_strategy(), data=st.data())
def test_damaged_bytes_never_raise_anything_else(cond: Conditions, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = save_conditions(Path(tmp) / "c.npz", cond)
        raw = bytearray(path.read_bytes())
        if data.draw(st.booleans()):
            raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
        else:
            for _ in range(data.draw(st.integers(1, 4))):
                i = data.draw(st.integers(0, len(raw) - 1))
                raw[i] ^= data.draw(st.integers(1, 255))
        path.write_bytes(bytes(raw))
        try:
            loaded = load_conditions(path)
        except FileFormatError:
            return
        # A flip in bytes nothing reads (a timestamp, say) may leave a valid file: then it is the same.
        assert loaded == cond
