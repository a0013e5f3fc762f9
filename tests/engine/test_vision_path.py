"""The vision path: training renders, the hand perceptron's attention structure, hand tokens of a video."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data.render import RenderStyle, frame_camera, render_window
from engine.model.perceptron import HandPerceptron, VisionConfig


@pytest.fixture(scope="module")
def posed_hand() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T,V,3) camera-space vertices of the default hand 40 cm in front of the camera, (F,3) faces,
    (T,21,3) keypoints: palm to the camera, drifting right over 3 frames."""
    from engine.hand import create_hand_model

    hand = create_hand_model("default", "right")
    t = 3
    orient = torch.tensor([[np.pi / 2, 0.0, 0.0]] * t, dtype=torch.float32)  # palm to the camera
    transl = torch.tensor([[0.01 * i, 0.0, 0.4] for i in range(t)], dtype=torch.float32)
    with torch.no_grad():
        out = hand(torch.zeros(t, 45), orient, None, transl)
    return out.vertices.numpy(), np.asarray(hand.faces, dtype=np.int64), out.keypoints.numpy()


def _plain_style(t: int, width: int, height: int) -> RenderStyle:
    return RenderStyle(
        skin=np.array([0.9, 0.7, 0.6]),
        light=np.array([0.0, 0.0, -1.0]),
        ambient=0.3,
        background=np.full((height, width, 3), 20, dtype=np.uint8),
        pan=np.zeros((t, 2), dtype=int),
        occluder=None,
        blur=0.0,
        noise=0.0,
    )


def test_the_hand_is_drawn_where_its_keypoints_project(posed_hand) -> None:
    verts, faces, kp = posed_hand
    size = (256, 144)
    focal_norm = 1.0
    camera = frame_camera(kp, focal_norm, size, np.random.default_rng(0), fill=(0.3, 0.3))
    assert camera.image_size == size
    frames = render_window(verts, faces, camera, _plain_style(len(verts), *size), np.random.default_rng(0))
    assert frames.shape == (3, 144, 256, 3) and frames.dtype == np.uint8
    uv = camera.project(kp)
    assert (uv >= 0).all() and (uv[..., 0] < 256).all() and (uv[..., 1] < 144).all()
    for t in range(3):
        on = frames[t].astype(int).sum(-1) > 3 * 20
        # The palm-side joints (wrist, knuckles) lie inside the silhouette.
        for j in (0, 5, 9, 13, 17):
            x, y = np.round(uv[t, j]).astype(int)
            assert on[y, x], (t, j)
        # Nothing is drawn far from the hand; the hand spans about the asked share of the width.
        margin = 0.3 * (uv[t].max(0) - uv[t].min(0)).max()  # the mesh reaches past the wrist joint
        lo, hi = uv[t].min(0) - margin, uv[t].max(0) + margin
        ys, xs = np.nonzero(on)
        assert (xs >= lo[0]).all() and (xs <= hi[0]).all() and (ys >= lo[1]).all() and (ys <= hi[1]).all()
        assert 0.2 < (xs.max() - xs.min()) / 256 < 0.45
    # The drift to the right shows in the picture.
    assert np.nonzero(frames[2].sum(-1) > 60)[1].mean() > np.nonzero(frames[0].sum(-1) > 60)[1].mean() + 3


def test_framing_keeps_an_off_centre_hand_inside(posed_hand) -> None:
    _, _, kp = posed_hand
    off = kp + np.array([0.15, 0.05, 0.0])  # far to the right of the optical axis
    camera = frame_camera(off, 1.0, (256, 144), np.random.default_rng(1), fill=(0.45, 0.45))
    uv = camera.project(off)
    assert (uv[..., 0] < 256).mean() > 0.95 and (uv[..., 1] < 144).mean() > 0.95


def _tokens(seed: int = 0, t: int = 16) -> torch.Tensor:
    return torch.randn(2, t, 4, 6, 112, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("rope", ["3d", "1d"])
def test_perceptron_sees_its_frame_and_neighbours_only(rope: str) -> None:
    torch.manual_seed(0)
    net = HandPerceptron(VisionConfig(rope=rope, vision_dim=16)).eval()
    x = _tokens()
    with torch.no_grad():
        base = net(x)
        y = x.clone()
        y[:, 8] += 3.0  # change frame 8 only
        moved = net(y)
    assert base.shape == (2, 16, 16) and torch.isfinite(base).all()
    changed = (moved - base).abs().amax(dim=(0, 2)) > 1e-5
    assert changed.tolist() == [7 <= i <= 9 for i in range(16)]  # context = 1 frame either side


def test_3d_rope_makes_place_in_the_picture_matter_and_average_pooling_not() -> None:
    torch.manual_seed(0)
    x = _tokens(1)
    shuffled = x[:, :, :, torch.randperm(6)]  # the same tokens at other columns
    for pooling, expect_change in (("perceptron", True), ("average", False)):
        net = HandPerceptron(VisionConfig(pooling=pooling, vision_dim=16)).eval()
        with torch.no_grad():
            diff = (net(x) - net(shuffled)).abs().max().item()
        assert (diff > 1e-4) == expect_change, (pooling, diff)


def test_initial_pose_token_and_padding() -> None:
    torch.manual_seed(0)
    net = HandPerceptron(VisionConfig(vision_dim=16)).eval()
    x = _tokens(2)
    kp = torch.rand(2, 21, 2) - 0.5
    with torch.no_grad():
        none = net(x)
        unseen = net(x, kp, torch.zeros(2, 21, dtype=torch.bool))
        seen = net(x, kp, torch.ones(2, 21, dtype=torch.bool))
        valid = torch.zeros(2, 16, dtype=torch.bool)
        valid[:, :3] = True
        padded = net(x, kp, torch.ones(2, 21, dtype=torch.bool), valid)
    assert torch.allclose(none, unseen)  # no keypoint seen = no initial pose
    assert (seen - none).abs().max() > 1e-4  # an initial pose changes what the queries attend to
    assert torch.isfinite(padded).all()  # frames with no valid neighbour still see their own tokens


def test_hand_tokens_in_chunks_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.video import vision

    torch.manual_seed(0)
    net = HandPerceptron(VisionConfig(vision_dim=16)).eval()
    dense = _tokens(3, t=20)[0].numpy().astype(np.float16)
    whole = vision.hand_tokens(net, dense, None, None)
    monkeypatch.setattr(vision, "CHUNK", 7)
    chunked = vision.hand_tokens(net, dense, None, None)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_initial_pose_from_a_track_is_mirrored_for_left_hands() -> None:
    from engine.video.vision import initial_pose_from_track

    kp = np.full((5, 21, 2), np.nan)
    mask = np.zeros((5, 21), dtype=bool)
    kp[2] = np.tile([[960.0, 360.0]], (21, 1))
    mask[2, :20] = True
    right, m = initial_pose_from_track(kp, mask, 1280, 720, mirror=False)
    left, _ = initial_pose_from_track(kp, mask, 1280, 720, mirror=True)
    assert m.sum() == 20 and right[0] == pytest.approx([0.5, 0.0]) and left[0] == pytest.approx([-0.5, 0.0])
    assert initial_pose_from_track(kp[:2], mask[:2], 1280, 720, False) == (None, None)
