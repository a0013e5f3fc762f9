"""Frozen EfficientNet-Lite0 backbone: shipped weights, a real classification, dense token grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.model.backbone import (
    BackboneError,
    VisionBackbone,
    default_weights_path,
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


def test_video_tokens_stream_to_a_file_in_batches(tmp_path: Path) -> None:
    from engine.video.vision import dense_tokens_to_file

    rng = np.random.default_rng(3)
    path = write_video(
        tmp_path / "noise.mp4", rng.integers(0, 256, size=(7, 64, 96, 3), dtype=np.uint8), fps=10
    )
    backbone = VisionBackbone(layer="stage7", max_side=None, batch_size=4)
    done: list[tuple[int, int]] = []
    tokens = dense_tokens_to_file(
        path, backbone, tmp_path / "t.npy", progress=lambda a, b: done.append((a, b))
    )
    assert done == [(4, 7), (7, 7)] and tokens.shape == (7, 2, 3, 320) and tokens.dtype == np.float16
    with VideoReader(path) as reader:
        frames = np.stack([reader.read(i).image for i in (5, 6)])
    np.testing.assert_allclose(tokens[5:7], backbone(frames).numpy(), rtol=2e-3, atol=2e-3)
    mirrored = dense_tokens_to_file(path, backbone, tmp_path / "m.npy", mirror=True)
    np.testing.assert_allclose(
        mirrored[5:7], backbone(frames[:, :, ::-1].copy()).numpy(), rtol=2e-3, atol=2e-3
    )
    assert np.load(tmp_path / "t.npy", mmap_mode="r").shape == (7, 2, 3, 320)  # a plain .npy


def _official_layout_dinov2(path: Path, dim: int = 64, depth: int = 2, registers: int = 0) -> Path:
    """A file with the official DINOv2 checkpoint's names and shapes (random values, small ViT)."""
    g = torch.Generator().manual_seed(0)
    state = {
        "cls_token": torch.randn(1, 1, dim, generator=g),
        "pos_embed": torch.randn(1, 1 + 37 * 37, dim, generator=g) * 0.02,
        "mask_token": torch.zeros(1, dim),
        "patch_embed.proj.weight": torch.randn(dim, 3, 14, 14, generator=g) * 0.02,
        "patch_embed.proj.bias": torch.zeros(dim),
        "norm.weight": torch.ones(dim),
        "norm.bias": torch.zeros(dim),
    }
    if registers:
        state["register_tokens"] = torch.randn(1, registers, dim, generator=g)
    for i in range(depth):
        for name, shape in (
            ("norm1.weight", (dim,)), ("norm1.bias", (dim,)), ("attn.qkv.weight", (3 * dim, dim)),
            ("attn.qkv.bias", (3 * dim,)), ("attn.proj.weight", (dim, dim)), ("attn.proj.bias", (dim,)),
            ("ls1.gamma", (dim,)), ("norm2.weight", (dim,)), ("norm2.bias", (dim,)),
            ("mlp.fc1.weight", (4 * dim, dim)), ("mlp.fc1.bias", (4 * dim,)),
            ("mlp.fc2.weight", (dim, 4 * dim)), ("mlp.fc2.bias", (dim,)), ("ls2.gamma", (dim,)),
        ):  # fmt: skip
            state[f"blocks.{i}.{name}"] = torch.randn(*shape, generator=g) * 0.05
    torch.save(state, path)
    return path


def test_dinov2_from_a_local_file_in_the_official_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.model.dinov2 import WEIGHTS_ENV

    path = _official_layout_dinov2(tmp_path / "dinov2_vits14_pretrain.pth", registers=4)
    backbone = VisionBackbone(layer="dinov2", max_side=224, weights_path=path)
    assert backbone.channels == 64 and backbone.stride == 14 and len(backbone.net.blocks) == 2
    assert backbone.input_size(1280, 720) == (224, 126) and backbone.token_grid(1280, 720) == (9, 16)
    frames = np.random.default_rng(0).integers(0, 256, (2, 720, 1280, 3), dtype=np.uint8)
    tokens = backbone(frames)
    assert tokens.shape == (2, 9, 16, 64) and torch.isfinite(tokens).all()
    assert not any(p.requires_grad for p in backbone.parameters())
    # The environment variable is the other way to point at the file; without either, a clear error.
    monkeypatch.setenv(WEIGHTS_ENV, str(path))
    assert VisionBackbone(layer="dinov2").channels == 64
    monkeypatch.delenv(WEIGHTS_ENV)
    with pytest.raises(BackboneError, match="UNIHAND_DINOV2"):
        VisionBackbone(layer="dinov2")
    vit_g = {"blocks.0.mlp.w12.weight": torch.zeros(1), "pos_embed": torch.zeros(1, 5, 8)}
    torch.save({**vit_g, "patch_embed.proj.weight": torch.zeros(8, 3, 14, 14)}, tmp_path / "g.pth")
    with pytest.raises(BackboneError, match="SwiGLU"):
        VisionBackbone(layer="dinov2", weights_path=tmp_path / "g.pth")
    with pytest.raises(BackboneError, match="not a DINOv2 checkpoint"):
        VisionBackbone(layer="dinov2", weights_path=default_weights_path())  # the EfficientNet file
