"""Linear blend skinning for MANO-format hand models: pure functions on torch tensors.

The maths is MANO's (Romero et al. 2017), laid out as in smplx's `lbs.py` so that results
match smplx to floating-point precision (tests/engine/test_hand_fk.py checks 1e-6 m); this
version adds a fast path for models without pose correctives and keeps every step typed.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from engine.motion.rotations import axis_angle_to_matrix


def shape_blend(v_template: torch.Tensor, shapedirs: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """(V,3) template + (V,3,S) directions x (B,S) betas -> (B,V,3) shaped vertices."""
    num_betas = min(betas.shape[-1], shapedirs.shape[-1])
    offsets = torch.einsum("bl,vcl->bvc", betas[:, :num_betas], shapedirs[..., :num_betas])
    return v_template.unsqueeze(0) + offsets


def regress_joints(j_regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """(J,V) regressor x (B,V,3) vertices -> (B,J,3) joints."""
    return torch.einsum("jv,bvc->bjc", j_regressor, vertices)


@lru_cache(maxsize=8)
def _tree_levels(parents: tuple[int, ...]) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """Joints grouped by depth, each joint's parent as a slot in the previous depth, and the
    permutation from depth-grouped order back to joint order."""
    depth = [0] * len(parents)
    for i, p in enumerate(parents):
        depth[i] = 0 if p < 0 else depth[p] + 1
    levels = [[i for i in range(len(parents)) if depth[i] == d] for d in range(max(depth) + 1)]
    slots = [[]] + [[levels[d - 1].index(parents[i]) for i in levels[d]] for d in range(1, len(levels))]
    flat = [i for level in levels for i in level]
    order = [flat.index(i) for i in range(len(parents))]
    return levels, slots, order


def _take(x: torch.Tensor, index: list[int]) -> torch.Tensor:
    """x[:, index] along dim 1, as a view where the index allows (fancy indexing's backward pass
    is a scatter, several times slower than the products here)."""
    if index == list(range(index[0], index[0] + len(index))):
        return x[:, index[0] : index[0] + len(index)]
    if len(set(index)) == 1:
        return x[:, index[0] : index[0] + 1].expand(-1, len(index), *x.shape[2:])
    return torch.index_select(x, 1, torch.tensor(index, device=x.device))


def rigid_chain(
    rot_mats: torch.Tensor, joints: torch.Tensor, parents: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compose per-joint local rotations down the kinematic tree.

    Args:
        rot_mats: (B,J,3,3) local rotations (world-aligned rest frames, as in MANO).
        joints: (B,J,3) rest joint positions.
        parents: parent index per joint, -1 for the root; parents come before children.
    Returns:
        posed_joints (B,J,3) and skinning transforms (B,J,4,4) that map rest-pose points to posed
        points (the rest joint position is already subtracted).
    """
    batch, num_joints = joints.shape[:2]
    rel_joints = joints.clone()
    parent_idx = torch.tensor(parents[1:], device=joints.device)
    rel_joints[:, 1:] = joints[:, 1:] - joints[:, parent_idx]

    local = torch.zeros(batch, num_joints, 4, 4, dtype=joints.dtype, device=joints.device)
    local[..., :3, :3] = rot_mats
    local[..., :3, 3] = rel_joints
    local[..., 3, 3] = 1.0

    # One batched product per tree depth (4 for MANO) rather than one per joint: the chain is the
    # inner loop of fitting, and the per-joint loop was most of its cost.
    levels, parent_slots, order = _tree_levels(tuple(parents))
    world_levels = [_take(local, levels[0])]
    for level, slots in zip(levels[1:], parent_slots[1:], strict=True):
        world_levels.append(_take(world_levels[-1], slots) @ _take(local, level))
    world = _take(torch.cat(world_levels, dim=1), order)

    posed_joints = world[..., :3, 3].clone()
    # Subtract the rotated rest joint so the transform acts on rest-pose coordinates directly.
    world_rot_rest = torch.einsum("bjmn,bjn->bjm", world[..., :3, :3], joints)
    skinning = world.clone()
    skinning[..., :3, 3] = world[..., :3, 3] - world_rot_rest
    return posed_joints, skinning


def linear_blend_skinning(
    full_pose: torch.Tensor,
    betas: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor | None,
    j_regressor: torch.Tensor,
    parents: tuple[int, ...],
    weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MANO forward kinematics without translation.

    Args:
        full_pose: (B,J*3) axis-angle, root first.
        betas: (B,S) shape coefficients.
        posedirs: (9*(J-1), V*3) pose-corrective directions, or None for a model without any.
        weights: (V,J) skinning weights.
    Returns:
        vertices (B,V,3) and joints (B,J,3).
    """
    batch = full_pose.shape[0]
    num_joints = j_regressor.shape[0]
    v_shaped = shape_blend(v_template, shapedirs, betas)
    rest_joints = regress_joints(j_regressor, v_shaped)
    rot_mats = axis_angle_to_matrix(full_pose.reshape(batch, num_joints, 3))

    if posedirs is not None:
        eye = torch.eye(3, dtype=full_pose.dtype, device=full_pose.device)
        pose_feature = (rot_mats[:, 1:] - eye).reshape(batch, -1)
        v_posed = v_shaped + (pose_feature @ posedirs).reshape(batch, -1, 3)
    else:
        v_posed = v_shaped

    posed_joints, skinning = rigid_chain(rot_mats, rest_joints, parents)
    # Blend the 3x4 transforms per vertex, then apply them to homogeneous points: a batched matmul
    # is about twice as fast on the CPU as the equivalent einsum (benchmarks/bench_fk.py).
    num_vertices = weights.shape[0]
    blended = (weights @ skinning[..., :3, :].reshape(batch, num_joints, 12)).reshape(
        batch, num_vertices, 3, 4
    )
    homogeneous = torch.cat([v_posed, torch.ones_like(v_posed[..., :1])], dim=-1).unsqueeze(-1)
    vertices = (blended @ homogeneous).squeeze(-1)
    return vertices, posed_joints
