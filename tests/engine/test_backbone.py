"""Frozen EfficientNet-Lite0 backbone: shipped weights, a real classification, dense token grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.video.backbone import (
    BackboneError,
    VisionBackbone,
    default_weights_path,
    iter_video_tokens,
    load_efficientnet_lite0,
    normalise,
)
from engine.video.decode import VideoReader
from engine.video.encode import write_video

MILITARY_UNIFORM = 652  # ImageNet class of the classic Grace Hopper test photograph


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    return load_efficientnet_lite0()


def test_weights_ship_with_the_install_and_load_frozen(net: torch.nn.Module) -> None:
    path = default_weights_path()
    assert path.name == "efficientnet-lite0-57934424.pth" and path.stat().st_size > 18_000_000
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(4.65e6, rel=0.01)


def test_pretrained_network_recognises_a_photograph(net: torch.nn.Module) -> None:
    """Architecture, padding, normalisation and weights together: the known answer for a known image."""
    from matplotlib import cbook
    from PIL import Image

    photo = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    image = np.asarray(photo.resize((224, 224), Image.BILINEAR))
    with torch.no_grad():
        probs = net(normalise(image[None])).softmax(-1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM
    assert float(probs[MILITARY_UNIFORM]) > 0.3


@pytest.mark.parametrize(
    ("layer", "max_side", "grid", "channels"),
    [
        ("head", None, (3, 5), 1280),
        ("stage7", None, (3, 5), 320),
        ("stage5", None, (6, 10), 112),
        ("head", 64, (2, 2), 1280),
    ],
)
def test_token_grid_shapes(layer: str, max_side: int | None, grid: tuple[int, int], channels: int) -> None:
    backbone = VisionBackbone(layer=layer, max_side=max_side)
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 90, 160, 3), dtype=np.uint8)
    tokens = backbone(frames)
    assert tuple(tokens.shape) == (3, *grid, channels) and tokens.dtype == torch.float32
    assert backbone.token_grid(160, 90) == grid and backbone.channels == channels
    assert not tokens.requires_grad
    backbone.train()
    assert not backbone.net.training  # frozen: batch-norm statistics never update


def test_tokens_are_dense_and_keep_the_picture_layout() -> None:
    """A bright patch changes the tokens most at the patch's place in the (H', W') grid."""
    backbone = VisionBackbone(layer="stage5", max_side=None)  # stride 16
    base = np.full((1, 128, 256, 3), 100, np.uint8)
    frames = [base]
    centres = [(64, 32), (112, 128), (32, 224)]  # (row, column) in pixels
    for r, c in centres:
        patched = base.copy()
        patched[:, r - 16 : r + 16, c - 16 : c + 16] = 250
        frames.append(patched)
    tokens = backbone(np.concatenate(frames))
    assert tuple(tokens.shape[1:3]) == (8, 16)
    for i, (r, c) in enumerate(centres, start=1):
        change = (tokens[i] - tokens[0]).norm(dim=-1)
        peak = np.unravel_index(int(change.argmax()), tuple(change.shape))
        assert abs(peak[0] - r / 16) <= 1.0 and abs(peak[1] - c / 16) <= 1.0, (peak, r, c)


def test_bad_weights_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIHAND_EFFICIENTNET_LITE0", str(tmp_path / "none.pth"))
    with pytest.raises(BackboneError, match="no such weights file"):
        default_weights_path()
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(BackboneError, match="cannot read"):
        load_efficientnet_lite0(tmp_path / "junk.pth")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(BackboneError, match="not EfficientNet-Lite0 weights"):
        load_efficientnet_lite0(tmp_path / "other.pth")
    with pytest.raises(ValueError, match="frames must be"):
        normalise(np.zeros((4, 4, 3), np.uint8))


def test_video_tokens_stream_in_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    path = write_video(
        tmp_path / "noise.mp4", rng.integers(0, 256, size=(7, 64, 96, 3), dtype=np.uint8), fps=10
    )
    backbone = VisionBackbone(layer="stage7", max_side=None)
    chunks = list(iter_video_tokens(path, backbone, start=1, chunk=4))
    assert [idx.tolist() for idx, _ in chunks] == [[1, 2, 3, 4], [5, 6]]
    assert [tuple(t.shape) for _, t in chunks] == [(4, 2, 3, 320), (2, 2, 3, 320)]
    with VideoReader(path) as reader:
        direct = backbone(np.stack([reader.read(i).image for i in (5, 6)]))
    torch.testing.assert_close(chunks[1][1], direct)
