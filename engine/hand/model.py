"""`HandModel`: forward kinematics of any MANO-format hand model (vertices, joints, keypoints)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.hand.lbs import linear_blend_skinning, regress_joints, rigid_chain, shape_blend
from engine.hand.model_file import HandModelData
from engine.hand.skeleton import MANO_PARENTS, MANO_TO_MP21, POSE_DIM
from engine.motion.rotations import axis_angle_to_matrix


@dataclass(frozen=True)
class HandOutput:
    """Posed hand, batch first. Units: metres, in the frame of global_orient/transl."""

    vertices: torch.Tensor  # (B,V,3)
    joints: torch.Tensor  # (B,16,3) MANO joint order
    keypoints: torch.Tensor  # (B,21,3) MP21 order, fingertips from the model's tip vertices


class HandModel(torch.nn.Module):
    """Forward kinematics for one hand model and side.

    Pose convention: `hand_pose` is the full axis-angle of the 15 finger joints in MANO order
    (zero = the model's flat rest hand, i.e. smplx's flat_hand_mean=True); never PCA.
    """

    def __init__(self, data: HandModelData, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.data = data
        self.name = data.name
        self.side = data.side
        self.faces = data.faces
        self.num_betas = data.num_betas

        def buf(name: str, array: np.ndarray) -> None:
            self.register_buffer(name, torch.as_tensor(array, dtype=dtype), persistent=False)

        buf("v_template", data.v_template)
        buf("shapedirs", data.shapedirs)
        buf("j_regressor", data.j_regressor)
        buf("weights", data.weights)
        self.register_buffer("tip_ids", torch.as_tensor(data.tip_vertex_ids), persistent=False)
        self.register_buffer("mp21_index", torch.as_tensor(MANO_TO_MP21), persistent=False)
        self.posedirs: torch.Tensor | None
        if data.has_pose_correctives:
            # (V,3,P) -> (P, V*3), the layout the pose-feature product needs.
            buf("posedirs", data.posedirs.reshape(-1, data.posedirs.shape[2]).T)
        else:
            self.posedirs = None
        # Keypoint-only forward kinematics (fitting, lints) needs the joints and the 5 tip vertices,
        # which are linear in betas: precompute their templates and shape directions once.
        tips = data.tip_vertex_ids
        buf("joint_template", data.j_regressor @ data.v_template)
        buf("joint_shapedirs", np.einsum("jv,vcs->jcs", data.j_regressor, data.shapedirs))
        buf("tip_template", data.v_template[tips])
        buf("tip_shapedirs", data.shapedirs[tips])
        buf("tip_weights", data.weights[tips])
        self.tip_posedirs: torch.Tensor | None
        if data.has_pose_correctives:
            buf("tip_posedirs", data.posedirs[tips].reshape(-1, data.posedirs.shape[2]).T)
        else:
            self.tip_posedirs = None

    @property
    def dtype(self) -> torch.dtype:
        return self.v_template.dtype

    @property
    def device(self) -> torch.device:
        return self.v_template.device

    def _batch(self, value: torch.Tensor | np.ndarray | None, batch: int, width: int) -> torch.Tensor:
        if value is None:
            return torch.zeros(batch, width, dtype=self.dtype, device=self.device)
        t = torch.as_tensor(value, dtype=self.dtype, device=self.device)
        return t.expand(batch, -1) if t.ndim == 1 else t

    def forward(
        self,
        hand_pose: torch.Tensor | np.ndarray,
        global_orient: torch.Tensor | np.ndarray | None = None,
        betas: torch.Tensor | np.ndarray | None = None,
        transl: torch.Tensor | np.ndarray | None = None,
    ) -> HandOutput:
        """hand_pose (B,45); global_orient (B,3); betas (B,S) or (S,); transl (B,3)."""
        hand_pose = torch.as_tensor(hand_pose, dtype=self.dtype, device=self.device)
        if hand_pose.ndim != 2 or hand_pose.shape[1] != POSE_DIM:
            raise ValueError(f"hand_pose must have shape (B,{POSE_DIM}), got {tuple(hand_pose.shape)}")
        batch = hand_pose.shape[0]
        global_orient = self._batch(global_orient, batch, 3)
        betas = self._batch(betas, batch, self.num_betas)
        transl = self._batch(transl, batch, 3)
        full_pose = torch.cat([global_orient, hand_pose], dim=1)
        vertices, joints = linear_blend_skinning(
            full_pose,
            betas,
            self.v_template,
            self.shapedirs,
            self.posedirs,
            self.j_regressor,
            MANO_PARENTS,
            self.weights,
        )
        vertices = vertices + transl[:, None]
        joints = joints + transl[:, None]
        tips = vertices[:, self.tip_ids]
        keypoints = torch.cat([joints, tips], dim=1)[:, self.mp21_index]
        return HandOutput(vertices=vertices, joints=joints, keypoints=keypoints)

    def forward_keypoints(
        self,
        hand_pose: torch.Tensor,
        global_orient: torch.Tensor,
        betas: torch.Tensor,
        transl: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Joints (B,16,3) and MP21 keypoints (B,21,3) without skinning the whole mesh.

        Equal to `forward(...).joints/.keypoints` (tested) at a fraction of the cost: the inner loop of
        fitting. Takes tensors of the model's dtype; `betas` may be (1,S) for a shape shared by all frames.
        """
        batch = hand_pose.shape[0]
        rot_mats = axis_angle_to_matrix(torch.cat([global_orient, hand_pose], dim=1).reshape(batch, -1, 3))
        num_betas = min(betas.shape[-1], self.num_betas)
        b = betas[:, :num_betas]
        rest_joints = self.joint_template + torch.einsum(
            "bs,jcs->bjc", b, self.joint_shapedirs[..., :num_betas]
        )
        tips = self.tip_template + torch.einsum("bs,vcs->bvc", b, self.tip_shapedirs[..., :num_betas])
        if self.tip_posedirs is not None:
            eye = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
            feature = (rot_mats[:, 1:] - eye).reshape(batch, -1)
            tips = tips + (feature @ self.tip_posedirs).reshape(batch, -1, 3)
        joints, skinning = rigid_chain(rot_mats, rest_joints.expand(batch, -1, -1), MANO_PARENTS)
        blended = torch.einsum("vj,bjmn->bvmn", self.tip_weights, skinning[..., :3, :])
        tips = (blended[..., :3] @ tips.expand(batch, -1, -1).unsqueeze(-1)).squeeze(-1) + blended[..., 3]
        joints = joints + transl[:, None]
        keypoints = torch.cat([joints, tips + transl[:, None]], dim=1)[:, self.mp21_index]
        return joints, keypoints

    def rest_joints(self, betas: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """(B,16,3) rest-pose joint centres for the given shapes (B=1 for betas=None)."""
        betas = self._batch(betas, 1, self.num_betas)
        return regress_joints(self.j_regressor, shape_blend(self.v_template, self.shapedirs, betas))
