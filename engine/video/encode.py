"""Writing video with PyAV: H.264 (or another FFmpeg encoder) with chosen per-frame timestamps.

Used for overlay videos and by the tests, which build small clips with variable frame rates,
rotation metadata and known content. Timestamps are given in seconds and stored exactly on the
stream's time base (1/`timescale`), so variable-frame-rate clips keep their timing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from engine.video.decode import VideoError, _av


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: float = 30.0,
    times: Iterable[float] | None = None,
    codec: str = "libx264",
    rotation: int = 0,
    timescale: int = 90000,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Encode RGB uint8 frames (H, W, 3) into `path`; the container follows the file's suffix.

    `times` (seconds, increasing) gives each frame's timestamp; without it frames are 1/fps
    apart. `rotation` is stored as display metadata (counter-clockwise degrees, FFmpeg's
    convention): a player, and `VideoReader`, turn the pictures by it. Width and height must be
    even for H.264 with 4:2:0 chroma. `options` go to the encoder (e.g. {"g": "12", "crf": "20"}),
    `container_options` to the muxer (e.g. {"movflags": "faststart"}); `metadata` becomes
    container tags (Matroska keeps any; MP4 only known ones). Written to a temporary name and
    renamed, so a failed encode never leaves a half-written file at `path`.
    """
    av = _av()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    rate = Fraction(fps).limit_denominator(1001)
    time_iter = iter(times) if times is not None else None
    try:
        with av.open(str(tmp), mode="w", options=dict(container_options or {})) as container:
            container.metadata.update(metadata or {})
            stream = None
            last_pts = -1
            for i, image in enumerate(frames):
                image = np.ascontiguousarray(image, dtype=np.uint8)
                if image.ndim != 3 or image.shape[2] != 3:
                    raise VideoError(f"{path}: frame {i} must be (H, W, 3) uint8 RGB, got {image.shape}")
                if stream is None:
                    stream = container.add_stream(codec, rate=rate)
                    stream.width, stream.height = image.shape[1], image.shape[0]
                    stream.pix_fmt = "yuv420p"
                    stream.time_base = Fraction(1, timescale)
                    stream.codec_context.time_base = Fraction(1, timescale)
                    if options:
                        stream.options = dict(options)
                    if rotation:
                        stream.set_display_rotation(rotation)
                t = next(time_iter) if time_iter is not None else i / float(rate)
                pts = round(t * timescale)
                if pts <= last_pts:
                    raise VideoError(f"{path}: frame {i} time {t} s is not after the previous frame")
                last_pts = pts
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = pts
                frame.time_base = Fraction(1, timescale)  # the muxer may change stream.time_base
                container.mux(stream.encode(frame))
            if stream is None:
                raise VideoError(f"{path}: no frames to write")
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
