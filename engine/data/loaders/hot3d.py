"""HOT3D-Clips loader (Banerjee et al., CVPR 2025), for the clips' public layout.

Assumed layout (from the HOT3D repository's clip documentation and clip utilities; not verifiable
here: no copy exists on these machines)::

    ROOT/**/clip-<id>.tar            one clip (~150 frames at 30 fps), a tar of per-frame files:
        __hand_shapes.json__         {"mano": [10 betas], ...}
        <frame:06d>.hands.json       {"left"|"right": {"mano_pose": {"thetas": [15 PCA coeffs],
                                      "wrist_xform": [rx, ry, rz, tx, ty, tz]}, ...}}; a hand not
                                      annotated in a frame is absent (or null)
        <frame:06d>.cameras.json     {"<stream>": {"calibration": {"image_width", "image_height",
                                      "projection_params": [f, cx, cy, distortion...]},
                                      "T_world_from_camera": {"quaternion_wxyz", "translation_xyz"}}}
        <frame:06d>.image_<stream>.jpg, .objects.json, .info.json (not read)

Hand poses are in the world frame: wrist_xform is MANO's global orientation (axis-angle) and
translation, thetas MANO PCA coefficients (smplx with 15 components; `add_hands_mean` chooses
flat_hand_mean=False, the toolkit's choice as far as we know). Cameras: the Aria RGB stream
"214-1" by default; its FISHEYE624 model is approximated by a pinhole with the same focal length
and principal point (distortion ignored), which is self-consistent for keypoints we project
ourselves but does not match the images' pixels. Keypoints come from FK of the hand model.
Split: HOT3D's test clips have no ground truth, so (as the paper) val comes from the training
clips: `val_clips` names them, else a stable hash of the clip name puts `val_fraction` in val.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.loaders import DatasetLayoutError, hand_model_data, pca_to_axis_angle, valid_runs
from engine.hand.model_file import HandModelData
from engine.motion.camera import Camera
from engine.motion.types import HandMotion

HOT3D_FPS = 30.0
RGB_STREAM = "214-1"


def hash_split(name: str, val_fraction: float) -> str:
    """'val' for a stable `val_fraction` of names (by SHA-256), else 'train'."""
    value = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2.0**64
    return "val" if value < val_fraction else "train"


def _quat_wxyz_to_matrix(q: list[float]) -> np.ndarray:
    import roma
    import torch

    w, x, y, z = (float(v) for v in q)
    xyzw = torch.tensor([x, y, z, w], dtype=torch.float64)
    return roma.unitquat_to_rotmat(xyzw / xyzw.norm()).numpy()


def _read_clip(path: Path) -> tuple[dict[str, Any], dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    shapes: dict[str, Any] | None = None
    hands: dict[int, dict[str, Any]] = {}
    cameras: dict[int, dict[str, Any]] = {}
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = Path(member.name).name
                kind = "shapes" if name == "__hand_shapes.json__" else name.split(".", 1)[-1]
                if kind not in ("shapes", "hands.json", "cameras.json"):
                    continue
                fh = tar.extractfile(member)
                data = json.loads(fh.read()) if fh is not None else None
                if kind == "shapes":
                    shapes = data
                elif kind == "hands.json":
                    hands[int(name.split(".")[0])] = data or {}
                else:
                    cameras[int(name.split(".")[0])] = data or {}
    except (tarfile.TarError, OSError, json.JSONDecodeError, ValueError) as exc:
        raise DatasetLayoutError(f"{path}: unreadable clip ({exc})") from exc
    if shapes is None:
        raise DatasetLayoutError(f"{path}: no __hand_shapes.json__ in the clip")
    if not hands:
        raise DatasetLayoutError(f"{path}: no <frame>.hands.json files in the clip")
    return shapes, hands, cameras


def _camera(frame_cams: dict[str, Any], stream: str, where: str) -> tuple[Camera, np.ndarray]:
    try:
        cam = frame_cams[stream]
        calib = cam["calibration"]
        f, cx, cy = (float(v) for v in calib["projection_params"][:3])
        k = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
        pose = np.eye(4)
        pose[:3, :3] = _quat_wxyz_to_matrix(cam["T_world_from_camera"]["quaternion_wxyz"])
        pose[:3, 3] = cam["T_world_from_camera"]["translation_xyz"]
        return Camera(k, int(calib["image_width"]), int(calib["image_height"])), pose
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetLayoutError(f"{where}: camera stream {stream!r} lacks {exc}") from exc


def iter_hot3d_clips(
    root: str | os.PathLike[str],
    hand_model: str | HandModelData = "mano",
    stream: str = RGB_STREAM,
    val_clips: Container[str] | None = None,
    val_fraction: float = 0.1,
    add_hands_mean: bool = True,
    min_frames: int = 30,
) -> Iterator[tuple[str, str, HandMotion, Any]]:
    """Yield (name, split, world-frame HandMotion, CameraTrack) per (clip, hand, annotated run)."""
    import torch

    from engine.data.cameras import CameraTrack
    from engine.hand.model import HandModel

    root = Path(root)
    clips = sorted(root.rglob("clip-*.tar")) if root.is_dir() else [root]
    if not clips:
        raise DatasetLayoutError(f"{root}: no clip-*.tar files")
    for clip in clips:
        clip_name = clip.name.removesuffix(".tar")
        shapes, hands, cameras = _read_clip(clip)
        frames = sorted(hands)
        if frames != list(range(len(frames))):
            raise DatasetLayoutError(f"{clip}: hands.json frames are not 0..{len(frames) - 1}")
        betas = np.asarray(shapes.get("mano"), dtype=np.float64).ravel()
        if betas.shape != (10,):
            raise DatasetLayoutError(f"{clip}: __hand_shapes.json__ 'mano' must hold 10 betas")
        split = ("val" if clip_name in val_clips else "train") if val_clips is not None else None
        split = split or hash_split(clip_name, val_fraction)
        for side in ("right", "left"):
            present = np.array([bool(hands[f].get(side)) for f in frames])
            if not present.any():
                continue
            model = hand_model_data(hand_model, side)
            fk = HandModel(model, dtype=torch.float64)
            for a, b in valid_runs(present, min_frames):
                wrist, thetas = [], []
                poses, camera = [], None
                for f in range(a, b):
                    try:
                        mano = hands[f][side]["mano_pose"]
                        wrist.append(np.asarray(mano["wrist_xform"], dtype=np.float64).reshape(6))
                        thetas.append(np.asarray(mano["thetas"], dtype=np.float64).ravel())
                    except (KeyError, TypeError, ValueError) as exc:
                        raise DatasetLayoutError(
                            f"{clip}: frame {f} {side} hand: bad mano_pose ({exc})"
                        ) from exc
                    if f not in cameras:
                        raise DatasetLayoutError(f"{clip}: frame {f} has no cameras.json")
                    cam, pose = _camera(cameras[f], stream, f"{clip}: frame {f}")
                    camera = camera or cam
                    poses.append(pose)
                wrist_arr = np.stack(wrist)
                hand_pose = pca_to_axis_angle(np.stack(thetas), model, add_mean=add_hands_mean)
                out = fk(hand_pose, wrist_arr[:, :3], betas, wrist_arr[:, 3:])
                motion = HandMotion(
                    fps=HOT3D_FPS,
                    handedness=side,
                    hand_model=hand_model if isinstance(hand_model, str) else model.name,
                    global_orient=wrist_arr[:, :3],
                    hand_pose=hand_pose,
                    transl=wrist_arr[:, 3:],
                    betas=betas,
                    joints=out.keypoints.numpy(),
                )
                track = CameraTrack(camera=camera, cam_to_world=np.stack(poses), moving=True)
                yield f"hot3d/{clip_name}/{side}" + (f"@{a}" if a else ""), split, motion, track
