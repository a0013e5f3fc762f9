"""BVH (Biovision hierarchy) export of the hand skeleton, and a small reader to check it.

The file (docs/export.md): one ROOT per hand named "<Side>Hand" with OFFSET 0 and six channels
(Xposition Yposition Zposition Zrotation Xrotation Yrotation) holding the wrist's absolute position,
so readers that add the root OFFSET and readers that do not agree. Fingers follow thumb to pinky,
each joint with its rest OFFSET from its parent and three rotation channels (Z X Y: R = Rz Rx Ry,
degrees); each distal joint ends in an End Site at the fingertip. Units are metres, axes y-up as in
`rig`. BVH has no mesh or skin: fingertips follow the distal bone rigidly, which equals the
engine's tip vertex when that vertex is weighted wholly to the distal joint (the shipped hands).

Rotations are written with 9 decimals of a degree and positions with 9 decimals of a metre, so the
text adds well under a micrometre of error.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engine.errors import FileFormatError
from engine.export.rig import DISTAL_JOINTS, HUMAN_ORDER, HandRig

_EULER = "ZXY"  # intrinsic, as BVH composes channels: R = Rz @ Rx @ Ry
_ROT_CHANNELS = "Zrotation Xrotation Yrotation"


def _euler_degrees(rotations: np.ndarray) -> np.ndarray:
    """(T,3,3) -> (T,3) Z X Y degrees, unwrapped over time so curves have no 360-degree jumps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: the angles still compose exactly
        angles = Rotation.from_matrix(rotations).as_euler(_EULER, degrees=True)
    return np.degrees(np.unwrap(np.radians(angles), axis=0))


def _emit(rig: HandRig, j: int, depth: int, lines: list[str], columns: list[np.ndarray]) -> None:
    """Append joint j's block (and its children's, thumb to pinky) and its motion columns."""
    pad = "  " * depth
    if j == 0:
        lines += [f"ROOT {rig.names[0]}", f"{pad}{{", f"{pad}  OFFSET {_vec(np.zeros(3))}"]
        lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {_ROT_CHANNELS}")
        columns.append(rig.root_positions)
    else:
        lines += [f"{pad}JOINT {rig.names[j]}", f"{pad}{{", f"{pad}  OFFSET {_vec(rig.offsets[j])}"]
        lines.append(f"{pad}  CHANNELS 3 {_ROT_CHANNELS}")
    columns.append(_euler_degrees(rig.rotations[:, j]))
    for c in (c for c in HUMAN_ORDER if rig.parents[c] == j):
        _emit(rig, c, depth + 1, lines, columns)
    if j in DISTAL_JOINTS:
        tip = rig.rest_tips[DISTAL_JOINTS.index(j)] - rig.rest_joints[j]
        lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_vec(tip)}", f"{pad}  }}"]
    lines.append(f"{pad}}}")


def bvh_text(rigs: Sequence[HandRig]) -> str:
    """The BVH file of one or more hands (several ROOTs; all hands must share fps and length)."""
    lines = ["HIERARCHY"]
    columns: list[np.ndarray] = []
    for rig in rigs:
        _emit(rig, 0, 0, lines, columns)
    lines += ["MOTION", f"Frames: {rigs[0].num_frames}", f"Frame Time: {1.0 / rigs[0].fps:.12g}"]
    table = np.concatenate(columns, axis=1)
    lines += [" ".join(f"{v:.9f}" for v in row) for row in table]
    return "\n".join(lines) + "\n"


def _vec(v: np.ndarray) -> str:
    return " ".join(f"{x:.9f}" for x in v)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class BvhAnimation:
    """A BVH file evaluated with forward kinematics."""

    names: tuple[str, ...]  # joints in file order (End Sites excluded)
    parents: tuple[int, ...]  # index into names, -1 for a ROOT
    offsets: np.ndarray  # (J,3)
    frame_time: float
    positions: np.ndarray  # (T,J,3) joint world positions
    end_sites: dict[str, np.ndarray]  # joint name -> (T,3) world position of its End Site

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time


def _axis_matrix(axis: str, degrees: np.ndarray) -> np.ndarray:
    return Rotation.from_euler(axis.lower(), degrees[:, None], degrees=True).as_matrix()


def read_bvh(path: str | os.PathLike[str]) -> BvhAnimation:
    """Parse a BVH file and run its forward kinematics (any channel order, several ROOTs)."""
    path = Path(path)
    tokens = path.read_text().split()
    pos = 0
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    end_offsets: dict[int, np.ndarray] = {}

    def fail(message: str) -> FileFormatError:
        return FileFormatError(f"{path}: not a valid BVH file ({message})")

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise fail("ends inside the hierarchy")
        pos += 1
        return tokens[pos - 1]

    if take() != "HIERARCHY":
        raise fail("no HIERARCHY header")
    stack: list[int] = []
    while True:
        tok = take()
        if tok in ("ROOT", "JOINT"):
            names.append(take())
            parents.append(stack[-1] if stack else -1)
            if take() != "{":
                raise fail(f"expected '{{' after {names[-1]}")
            stack.append(len(names) - 1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
        elif tok == "OFFSET":
            offsets[stack[-1]] = [float(take()) for _ in range(3)]
        elif tok == "CHANNELS":
            channels[stack[-1]] = [take() for _ in range(int(take()))]
        elif tok == "End":
            take()  # "Site"
            if take() != "{" or take() != "OFFSET":
                raise fail("bad End Site")
            end_offsets[stack[-1]] = np.array([float(take()) for _ in range(3)])
            if take() != "}":
                raise fail("bad End Site")
        elif tok == "}":
            stack.pop()
        elif tok == "MOTION":
            break
        else:
            raise fail(f"unexpected {tok!r}")
    if take() != "Frames:":
        raise fail("no 'Frames:' line")
    num_frames = int(take())
    if take() != "Frame" or take() != "Time:":
        raise fail("no 'Frame Time:' line")
    frame_time = float(take())
    width = sum(len(c) for c in channels)
    values = np.array(tokens[pos : pos + num_frames * width], dtype=np.float64)
    if values.size != num_frames * width:
        raise fail(f"{values.size} motion values, expected {num_frames} frames x {width} channels")
    values = values.reshape(num_frames, width)

    world = np.zeros((num_frames, len(names), 4, 4))
    column = 0
    for j, chans in enumerate(channels):
        local = np.tile(np.eye(4), (num_frames, 1, 1))
        local[:, :3, 3] = offsets[j]
        rot = np.tile(np.eye(3), (num_frames, 1, 1))
        for ch in chans:
            v = values[:, column]
            column += 1
            if ch.endswith("position"):
                local[:, "XYZ".index(ch[0]), 3] += v
            else:
                rot = rot @ _axis_matrix(ch[0], v)
        local[:, :3, :3] = rot
        world[:, j] = local if parents[j] < 0 else world[:, parents[j]] @ local
    ends = {names[j]: (world[:, j, :3, :3] @ off + world[:, j, :3, 3]) for j, off in end_offsets.items()}
    return BvhAnimation(
        names=tuple(names),
        parents=tuple(parents),
        offsets=np.array(offsets),
        frame_time=frame_time,
        positions=world[:, :, :3, 3],
        end_sites=ends,
    )
