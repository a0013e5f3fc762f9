"""DexYCB loader (Chao et al., CVPR 2021), for its public layout as distributed.

Assumed layout (from the dataset's toolkit, dex-ycb-toolkit; not verifiable here: no copy exists on
these machines)::

    ROOT/calibration/intrinsics/<serial>_640x480.yml   color: {fx, fy, ppx, ppy}
    ROOT/calibration/mano_<mano_calib>/mano.yml         betas: [10 floats]
    ROOT/<subject>/<sequence>/meta.yml                  serials, num_frames, mano_sides, mano_calib
    ROOT/<subject>/<sequence>/<serial>/labels_000000.npz
        pose_m   (1,51) float32: 3 global orient + 45 MANO *PCA* coefficients (manopth, ncomps=45,
                 flat_hand_mean=False) + 3 translation, camera space; all zero when no hand
        joint_3d (1,21,3) metres, camera space, manopth's 21-joint order (= MP21); -1 when no hand
        joint_2d (1,21,2) pixels

Each (sequence, camera serial) pair becomes one static-camera track; frames without a hand split it
into runs. Split: DexYCB's default setup S0 holds out sequences whose index within their subject is
4 mod 5 (its val and test); those become "val", the rest "train". DexYCB records at 30 fps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.loaders import DatasetLayoutError, hand_model_data, pca_to_axis_angle, valid_runs
from engine.hand.model_file import HandModelData
from engine.motion.camera import Camera
from engine.motion.types import HandMotion

DEXYCB_FPS = 30.0
IMAGE_SIZE = (640, 480)


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML file as a dict: PyYAML when installed, else a parser for the simple subset DexYCB uses."""
    text = path.read_text()
    try:
        import yaml
    except ImportError:
        return _parse_simple_yaml(text, path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DatasetLayoutError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise DatasetLayoutError(f"{path}: expected a mapping")
    return data


def _scalar(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]  # quoted: a string even when it looks like a number (camera serials)
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(p) for p in text[1:-1].split(",") if p.strip()]
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "~", ""):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _parse_simple_yaml(text: str, path: Path) -> dict[str, Any]:
    """Nested mappings, block lists ('- x') and flow lists ('[a, b]') of scalars."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(-1, root)]
    pending: tuple[dict[str, Any], str, int] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if pending is not None:
            parent, key, parent_indent = pending
            pending = None
            is_item = body.startswith("- ") or body == "-"
            # YAML allows a block list at its key's own indentation.
            if indent > parent_indent or (is_item and indent == parent_indent):
                parent[key] = [] if is_item else {}
                stack.append((indent, parent[key]))
        while len(stack) > 1 and (
            indent < stack[-1][0]
            or (indent == stack[-1][0] and isinstance(stack[-1][1], list) and not body.startswith("-"))
        ):
            stack.pop()
        container = stack[-1][1]
        if body.startswith("-"):
            if not isinstance(container, list):
                raise DatasetLayoutError(f"{path}:{number}: unexpected list item")
            container.append(_scalar(body[1:]))
            continue
        key, sep, value = body.partition(":")
        if not sep or not isinstance(container, dict):
            raise DatasetLayoutError(f"{path}:{number}: cannot parse {body!r}")
        if value.strip():
            container[key.strip()] = _scalar(value)
        else:
            container[key.strip()] = None
            pending = (container, key.strip(), indent)
    return root


def _intrinsics(root: Path, serial: str) -> Camera:
    path = root / "calibration" / "intrinsics" / f"{serial}_{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}.yml"
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: missing intrinsics for camera {serial}")
    color = load_yaml(path).get("color") or {}
    try:
        k = [[color["fx"], 0.0, color["ppx"]], [0.0, color["fy"], color["ppy"]], [0.0, 0.0, 1.0]]
    except KeyError as exc:
        raise DatasetLayoutError(f"{path}: color intrinsics lack {exc}") from exc
    return Camera(np.array(k, dtype=np.float64), *IMAGE_SIZE)


def _betas(root: Path, calib: str) -> np.ndarray:
    path = root / "calibration" / f"mano_{calib}" / "mano.yml"
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: missing MANO shape calibration {calib}")
    try:
        betas = np.asarray(load_yaml(path).get("betas"), dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise DatasetLayoutError(f"{path}: betas are not numbers ({exc})") from exc
    if betas.shape != (10,):
        raise DatasetLayoutError(f"{path}: expected 10 betas, got {betas.shape}")
    return betas


def _sequence_dirs(root: Path) -> Iterator[tuple[str, int, Path]]:
    """(subject, index within subject, sequence dir) in sorted order."""
    for subject in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "calibration"):
        sequences = sorted(p for p in subject.iterdir() if (p / "meta.yml").is_file())
        for index, seq in enumerate(sequences):
            yield subject.name, index, seq


def s0_split(index_in_subject: int) -> str:
    """DexYCB setup S0: sequences 4 mod 5 are held out (val/test) -> "val"; the rest "train"."""
    return "val" if index_in_subject % 5 == 4 else "train"


def iter_dexycb(
    root: str | os.PathLike[str],
    hand_model: str | HandModelData = "mano",
    serials: list[str] | None = None,
    min_frames: int = 30,
) -> Iterator[tuple[str, str, HandMotion, Any]]:
    """Yield (name, split, camera-space HandMotion, static CameraTrack) per (sequence, camera, run)."""
    from engine.data.cameras import CameraTrack

    root = Path(root)
    if not (root / "calibration").is_dir():
        raise DatasetLayoutError(f"{root}: no calibration/ folder; not a DexYCB root")
    for subject, index, seq in _sequence_dirs(root):
        meta = load_yaml(seq / "meta.yml")
        try:
            side, calib = str(meta["mano_sides"][0]), str(meta["mano_calib"][0])
            num_frames, seq_serials = int(meta["num_frames"]), [str(s) for s in meta["serials"]]
        except (KeyError, IndexError, TypeError) as exc:
            raise DatasetLayoutError(f"{seq / 'meta.yml'}: missing or bad {exc}") from exc
        if side not in ("right", "left"):
            raise DatasetLayoutError(f"{seq / 'meta.yml'}: mano_sides {side!r} is not right or left")
        model = hand_model_data(hand_model, side)
        betas = _betas(root, calib)
        for serial in seq_serials if serials is None else [s for s in seq_serials if s in serials]:
            pose_m, joints = _read_labels(seq / serial, num_frames)
            valid = np.any(pose_m != 0, axis=1) & np.all(joints[..., 2] > 0, axis=1)
            camera = _intrinsics(root, serial)
            runs = valid_runs(valid, min_frames)
            for k, (a, b) in enumerate(runs):
                motion = HandMotion(
                    fps=DEXYCB_FPS,
                    handedness=side,
                    hand_model=hand_model if isinstance(hand_model, str) else model.name,
                    global_orient=pose_m[a:b, :3],
                    hand_pose=pca_to_axis_angle(pose_m[a:b, 3:48], model),
                    transl=pose_m[a:b, 48:51],
                    betas=betas,
                    joints=joints[a:b],
                )
                track = CameraTrack(camera=camera, cam_to_world=np.tile(np.eye(4), (b - a, 1, 1)))
                name = f"dexycb/{subject}/{seq.name}/{serial}" + (f"#{k}" if len(runs) > 1 else "")
                yield name, s0_split(index), motion, track


def _read_labels(folder: Path, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: missing camera folder")
    pose_m = np.zeros((num_frames, 51))
    joints = -np.ones((num_frames, 21, 3))
    for frame in range(num_frames):
        path = folder / f"labels_{frame:06d}.npz"
        if not path.is_file():
            raise DatasetLayoutError(f"{path}: missing label file (meta.yml says {num_frames} frames)")
        try:
            with np.load(path, allow_pickle=False) as labels:
                pose_m[frame] = np.asarray(labels["pose_m"], dtype=np.float64).reshape(51)
                joints[frame] = np.asarray(labels["joint_3d"], dtype=np.float64).reshape(21, 3)
        except (KeyError, ValueError, OSError) as exc:
            raise DatasetLayoutError(f"{path}: bad label file ({exc})") from exc
    return pose_m, joints
