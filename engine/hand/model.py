"""`HandModel`: forward kinematics of any MANO-format hand model (vertices, joints, keypoints)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.hand.lbs import linear_blend_skinning, regress_joints, shape_blend
from engine.hand.model_file import HandModelData
from engine.hand.skeleton import MANO_PARENTS, MANO_TO_MP21, POSE_DIM


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

    def rest_joints(self, betas: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """(B,16,3) rest-pose joint centres for the given shapes (B=1 for betas=None)."""
        betas = self._batch(betas, 1, self.num_betas)
        return regress_joints(self.j_regressor, shape_blend(self.v_template, self.shapedirs, betas))
