"""Forward kinematics: our LBS matches smplx's MANO layer; keypoints are in MP21 order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.hand import HandModel, create_hand_model, get_hand_model_data
from engine.hand.skeleton import MANO_TO_MP21, MP21_NAMES
from engine.hand.smplx_reference import smplx_mano_layer
from tests.engine.hand_fixtures import hand_with_pose_correctives, random_pose

MODELS = {
    "procedural": lambda: get_hand_model_data("procedural"),
    "default": lambda: get_hand_model_data("default"),
    "with_posedirs": hand_with_pose_correctives,
    "default_left": lambda: get_hand_model_data("default", "left"),
}


@pytest.mark.parametrize("which", sorted(MODELS))
def test_matches_smplx_mano_within_a_micrometre(which: str) -> None:
    data = MODELS[which]()
    ours = HandModel(data, dtype=torch.float64)
    ref = smplx_mano_layer(data)
    pose, orient, transl = random_pose(6, seed=1)
    betas = np.random.default_rng(2).standard_normal((6, data.num_betas))
    out = ours(pose, orient, betas, transl)
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    expected = ref(hand_pose=t(pose), global_orient=t(orient), betas=t(betas), transl=t(transl))
    assert torch.allclose(out.vertices, expected.vertices, atol=1e-6, rtol=0)
    assert torch.allclose(out.joints, expected.joints[:, :16], atol=1e-6, rtol=0)


def test_keypoints_are_mp21_with_fingertips_from_tip_vertices() -> None:
    model = create_hand_model("default", dtype=torch.float64)
    pose, orient, transl = random_pose(3, seed=4)
    out = model(pose, orient, None, transl)
    tips = out.vertices[:, model.data.tip_vertex_ids]  # thumb, index, middle, ring, pinky
    for finger_idx, name in enumerate(("thumb", "index", "middle", "ring", "pinky")):
        mp = MP21_NAMES.index(f"{name}_tip")
        assert torch.equal(out.keypoints[:, mp], tips[:, finger_idx])
    assert torch.equal(out.keypoints[:, 0], out.joints[:, 0])  # wrist
    # index_mcp is MANO joint 1, thumb_cmc MANO joint 13, pinky_dip MANO joint 9
    assert torch.equal(out.keypoints[:, MP21_NAMES.index("index_mcp")], out.joints[:, 1])
    assert torch.equal(out.keypoints[:, MP21_NAMES.index("thumb_cmc")], out.joints[:, 13])
    assert torch.equal(out.keypoints[:, MP21_NAMES.index("pinky_dip")], out.joints[:, 9])
    assert list(MANO_TO_MP21) == [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]


def test_fingertips_are_the_distal_ends_of_their_fingers() -> None:
    for name in ("default", "procedural"):
        kp = create_hand_model(name)(torch.zeros(1, 45)).keypoints[0].numpy()
        for finger in ("thumb", "index", "middle", "ring", "pinky"):
            idx = MP21_NAMES.index(f"{finger}_tip")
            tip, base = kp[idx], kp[idx - 3]
            others = np.delete(kp, [idx], axis=0)
            # The tip is farther from the wrist than its own finger's base joint and nearest its own DIP/IP.
            assert np.linalg.norm(tip - kp[0]) > np.linalg.norm(base - kp[0])
            assert np.argmin(np.linalg.norm(others - tip, axis=1)) == idx - 1, (name, finger)


def test_translation_and_batch_shapes() -> None:
    model = create_hand_model("procedural")
    base = model(torch.zeros(2, 45))
    moved = model(torch.zeros(2, 45), transl=torch.tensor([[0.1, 0.2, 0.3]] * 2))
    assert base.vertices.shape == (2, model.data.num_vertices, 3)
    assert base.joints.shape == (2, 16, 3) and base.keypoints.shape == (2, 21, 3)
    assert torch.allclose(moved.keypoints - base.keypoints, torch.tensor([0.1, 0.2, 0.3]), atol=1e-6)
    with pytest.raises(ValueError, match="hand_pose must have shape"):
        model(torch.zeros(2, 48))


def test_betas_change_the_shape_and_joints_follow() -> None:
    model = create_hand_model("default", dtype=torch.float64)
    betas = torch.zeros(1, model.num_betas, dtype=torch.float64)
    betas[0, 0] = 2.0
    rest = model(torch.zeros(1, 45, dtype=torch.float64))
    shaped = model(torch.zeros(1, 45, dtype=torch.float64), betas=betas)
    assert (shaped.vertices - rest.vertices).abs().max() > 1e-3
    assert (shaped.joints - rest.joints).abs().max() > 1e-4


@pytest.mark.parametrize("which", sorted(MODELS))
def test_keypoint_only_kinematics_equals_the_full_forward_pass(which: str) -> None:
    model = HandModel(MODELS[which](), dtype=torch.float64)
    pose, orient, transl = (torch.as_tensor(a) for a in random_pose(5, seed=4))
    betas = torch.as_tensor(np.random.default_rng(5).standard_normal((1, model.num_betas)))
    full = model(pose, orient, betas.expand(5, -1), transl)
    joints, keypoints = model.forward_keypoints(pose, orient, betas, transl)
    assert torch.allclose(joints, full.joints, atol=1e-12, rtol=0)
    assert torch.allclose(keypoints, full.keypoints, atol=1e-12, rtol=0)
