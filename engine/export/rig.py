"""The export rig: one hand motion turned into bones, bind pose, skin and keyframes.

Every writer (glTF/GLB, FBX, BVH) takes a `HandRig`; this module owns the two conventions they
share (docs/export.md):

- Axes: exported files are y-up: x right, y up, z towards the viewer, in metres. The engine's
  camera space (x right, y down, z forward, DESIGN.md section 2) maps to it by a half turn about x,
  p -> (x, -y, -z). It is a rotation, not a reflection, so a left hand stays a left hand.
- Bones: the 16 MANO joints, named as Maya HumanIK / Mixamo name hand bones ("RightHand",
  "RightHandIndex1".."RightHandPinky3"), which Unity's humanoid mapper, Maya and Blender's
  mirror tools all recognise.

The rig reproduces `HandModel` exactly: MANO's local rotations act in world-aligned rest frames,
so each bone's bind (rest) orientation is the identity, its offset is the rest joint minus its
parent's, and its animated local rotation is the joint's axis-angle; the root bone additionally
carries the wrist position (rest wrist + transl) as root motion. Linear blend skinning with
inverse bind matrices translate(-rest joint) then gives the engine's vertices. What plain
skinning cannot carry is a model's pose-corrective blend shapes (real MANO has them): joints stay
exact, vertices differ by the correctives (`HandRig.pose_correctives_dropped`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.hand.skeleton import FINGERS, MANO_FINGER_JOINTS, MANO_JOINT_NAMES, MANO_PARENTS
from engine.motion.types import HandMotion

# Camera space (x right, y down, z forward) -> export space (x right, y up, z towards the viewer).
CAMERA_TO_EXPORT = np.diag([1.0, -1.0, -1.0])

_FINGER_LABELS = {"thumb": "Thumb", "index": "Index", "middle": "Middle", "ring": "Ring", "pinky": "Pinky"}


def bone_names(side: str) -> tuple[str, ...]:
    """The 16 bone names in MANO joint order for a 'right' or 'left' hand."""
    prefix = {"right": "Right", "left": "Left"}[side]
    names = [f"{prefix}Hand"] * len(MANO_JOINT_NAMES)
    for finger, joints in MANO_FINGER_JOINTS.items():
        for segment, joint in enumerate(joints, start=1):
            names[joint] = f"{prefix}Hand{_FINGER_LABELS[finger]}{segment}"
    return tuple(names)


# MANO joint indices in the order people list fingers (thumb first), for hierarchies in files.
HUMAN_ORDER: tuple[int, ...] = (0, *(j for f in FINGERS for j in MANO_FINGER_JOINTS[f]))
# The distal joint of each finger, in the order of the fingertips (TIP_FINGER_ORDER = FINGERS).
DISTAL_JOINTS: tuple[int, ...] = tuple(MANO_FINGER_JOINTS[f][2] for f in FINGERS)


@dataclass(frozen=True)
class HandRig:
    """A hand ready to write: everything in export axes (see the module docstring), metres."""

    side: str
    fps: float
    hand_model: str
    names: tuple[str, ...]  # (16,) bone names, MANO joint order
    parents: tuple[int, ...]  # (16,) MANO_PARENTS
    rest_joints: np.ndarray  # (16,3) bind-pose joint positions (shaped by the motion's betas)
    rest_tips: np.ndarray  # (5,3) bind-pose fingertip vertices, thumb..pinky
    rest_vertices: np.ndarray  # (V,3) bind-pose mesh
    faces: np.ndarray  # (F,3) outward counter-clockwise winding
    weights: np.ndarray  # (V,16) skin weights, rows sum to 1
    rotations: np.ndarray  # (T,16,3,3) local rotations (bind orientation = identity)
    root_positions: np.ndarray  # (T,3) wrist position per frame (root motion)
    pose_correctives_dropped: bool

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def offsets(self) -> np.ndarray:
        """(16,3) each bone's rest position relative to its parent (the root's: its rest position)."""
        parents = np.array(self.parents[1:])
        out = self.rest_joints.copy()
        out[1:] -= self.rest_joints[parents]
        return out

    def inverse_bind_matrices(self) -> np.ndarray:
        """(16,4,4) world -> bone at bind pose: a translation, since bind orientations are identity."""
        out = np.tile(np.eye(4), (len(self.names), 1, 1))
        out[:, :3, 3] = -self.rest_joints
        return out

    def world_transforms(self) -> np.ndarray:
        """(T,16,4,4) posed bone-to-world transforms, composed down the chain (for readers' checks)."""
        frames, joints = self.rotations.shape[:2]
        world = np.zeros((frames, joints, 4, 4))
        offsets = self.offsets
        for j, parent in enumerate(self.parents):
            local = np.zeros((frames, 4, 4))
            local[:, :3, :3] = self.rotations[:, j]
            local[:, :3, 3] = self.root_positions if parent < 0 else offsets[j]
            local[:, 3, 3] = 1.0
            world[:, j] = local if parent < 0 else world[:, parent] @ local
        return world


def _to_export(points: np.ndarray) -> np.ndarray:
    return points @ CAMERA_TO_EXPORT.T


def build_rig(motion: HandMotion) -> HandRig:
    """The rig of `motion`: its hand model and side (from the registry), shape, pose and root motion."""
    import torch

    from engine.hand.lbs import regress_joints, shape_blend
    from engine.hand.registry import get_hand_model_data
    from engine.motion.rotations import axis_angle_to_matrix

    data = get_hand_model_data(motion.hand_model, motion.handedness)
    f64 = torch.float64
    num_betas = min(data.num_betas, motion.betas.shape[0])
    betas = torch.as_tensor(motion.betas[:num_betas], dtype=f64)[None]
    shaped = shape_blend(
        torch.as_tensor(data.v_template, dtype=f64), torch.as_tensor(data.shapedirs, dtype=f64), betas
    )
    rest_joints = regress_joints(torch.as_tensor(data.j_regressor, dtype=f64), shaped)[0].numpy()
    shaped_np = shaped[0].numpy()
    full_pose = np.concatenate([motion.global_orient, motion.hand_pose], axis=1)
    frames = full_pose.shape[0]
    rotations = axis_angle_to_matrix(torch.as_tensor(full_pose, dtype=f64).reshape(frames, -1, 3)).numpy()
    # The same rotation seen in export axes: C R C^T (C is its own inverse).
    c = CAMERA_TO_EXPORT
    return HandRig(
        side=motion.handedness,
        fps=motion.fps,
        hand_model=motion.hand_model,
        names=bone_names(motion.handedness),
        parents=MANO_PARENTS,
        rest_joints=_to_export(rest_joints),
        rest_tips=_to_export(shaped_np[data.tip_vertex_ids]),
        rest_vertices=_to_export(shaped_np),
        faces=np.asarray(data.faces, dtype=np.int64),
        weights=np.asarray(data.weights, dtype=np.float64),
        rotations=c @ rotations @ c,
        root_positions=_to_export(rest_joints[0] + motion.transl),
        pose_correctives_dropped=data.has_pose_correctives,
    )


@dataclass(frozen=True)
class ReferencePose:
    """The engine's own forward kinematics of a motion, in export axes (what exports must match)."""

    joints: np.ndarray  # (T,16,3) MANO joint order
    tips: np.ndarray  # (T,5,3) fingertip vertices, thumb..pinky
    vertices: np.ndarray  # (T,V,3)
    vertices_without_correctives: np.ndarray  # (T,V,3): what plain skinning can carry


def reference_pose(motion: HandMotion) -> ReferencePose:
    """Run `HandModel` (float64) on the motion: the ground truth every export is tested against."""
    import torch

    from engine.hand.model import HandModel
    from engine.hand.registry import get_hand_model_data

    data = get_hand_model_data(motion.hand_model, motion.handedness)
    model = HandModel(data, dtype=torch.float64)
    args = (motion.hand_pose, motion.global_orient, motion.betas[: data.num_betas], motion.transl)
    with torch.no_grad():
        out = model(*args)
        plain = out
        if data.has_pose_correctives:
            plain = HandModel(data.with_changes(posedirs=np.zeros_like(data.posedirs)), torch.float64)(*args)
    vertices = _to_export(out.vertices.numpy())
    return ReferencePose(
        joints=_to_export(out.joints.numpy()),
        tips=vertices[:, data.tip_vertex_ids],
        vertices=vertices,
        vertices_without_correctives=_to_export(plain.vertices.numpy()),
    )
