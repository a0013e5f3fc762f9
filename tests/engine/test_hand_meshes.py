"""Shipped and generated hand meshes are well formed and deform like hands."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.hand import HAND_MODEL_NAMES, create_hand_model, get_hand_model_data
from engine.hand.joint_limits import AnatomicalFrames
from engine.hand.poses import named_pose
from engine.hand.skeleton import MANO_FINGER_JOINTS

MESH_MODELS = [n for n in HAND_MODEL_NAMES if n != "mano"]


@pytest.mark.parametrize("name", MESH_MODELS)
def test_mesh_is_well_formed(name: str) -> None:
    data = get_hand_model_data(name)
    faces = data.faces
    assert np.all(faces[:, 0] != faces[:, 1]) and np.all(faces[:, 1] != faces[:, 2])
    assert np.unique(faces).size == data.num_vertices, "unused vertices"
    assert data.num_betas == 10 and len(data.shape_names) == 10
    # joints sit inside the skin, fingers point along -x, palm faces -y (MANO's frame)
    joints = data.rest_joints()
    lo, hi = data.v_template.min(0), data.v_template.max(0)
    assert np.all(joints >= lo) and np.all(joints <= hi)
    middle_dir = joints[6] - joints[4]
    assert middle_dir[0] < -0.9 * np.linalg.norm(middle_dir)
    assert joints[1, 2] > joints[7, 2], "index must be on the +z side, pinky on -z"


@pytest.mark.parametrize("name", MESH_MODELS)
def test_each_joint_moves_only_its_own_finger(name: str) -> None:
    model = create_hand_model(name, dtype=torch.float64)
    weights = model.data.weights
    rest = model(torch.zeros(1, 45, dtype=torch.float64)).vertices[0].numpy()
    for finger, chain in MANO_FINGER_JOINTS.items():
        for joint in chain:
            pose = torch.zeros(1, 45, dtype=torch.float64)
            pose[0, 3 * (joint - 1) + 2] = 0.8  # about +z, roughly flexion for fingers
            moved = np.linalg.norm(model(pose).vertices[0].numpy() - rest, axis=1)
            influenced = weights[:, list(range(joint, chain[-1] + 1))].sum(1) > 1e-6
            assert moved[~influenced].max() < 1e-12, (finger, joint)
            assert moved[influenced].max() > 0.005, (finger, joint)


@pytest.mark.parametrize("name", MESH_MODELS)
def test_fist_keeps_the_skin_connected(name: str) -> None:
    """Edge lengths stretch moderately in a fist: no vertex is left behind at a bent joint.

    Palm-side creases of a linear-blend-skinned hand fold, so a few edges there shorten a lot (the
    default hand has no pose correctives); a collapsed edge or a broad region of them is a defect.
    """
    model = create_hand_model(name, dtype=torch.float64)
    frames = AnatomicalFrames.from_hand(model.data)
    fist = model(torch.as_tensor(named_pose("fist", frames))[None]).vertices[0].numpy()
    rest = model.data.v_template
    edges = np.concatenate([model.faces[:, [0, 1]], model.faces[:, [1, 2]], model.faces[:, [2, 0]]])
    ratio = np.linalg.norm(fist[edges[:, 0]] - fist[edges[:, 1]], axis=1) / np.linalg.norm(
        rest[edges[:, 0]] - rest[edges[:, 1]], axis=1
    )
    assert ratio.max() < 3.0, ratio.max()
    assert ratio.min() > 0.05, ratio.min()
    assert np.mean(ratio < 0.2) < 0.005, np.mean(ratio < 0.2)


@pytest.mark.parametrize("name", MESH_MODELS)
def test_shape_directions_are_plausible(name: str) -> None:
    model = create_hand_model(name, dtype=torch.float64)
    rest = model.rest_joints()[0].numpy()
    length = np.linalg.norm(rest[6] - rest[0])
    for k in range(10):
        betas = torch.zeros(1, 10, dtype=torch.float64)
        betas[0, k] = 2.0
        shaped = model.rest_joints(betas)[0].numpy()
        change = np.abs(np.linalg.norm(shaped[6] - shaped[0]) - length) / length
        displacement = np.abs(model.data.shapedirs[..., k] * 2.0).max()
        assert 0.0005 < displacement < 0.03, (model.data.shape_names[k], displacement)
        assert change < 0.35, model.data.shape_names[k]
