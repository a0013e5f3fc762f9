"""Video decoding with PyAV: exact per-frame timestamps, frame-accurate seeking, streaming.

Opening a video scans its packets once (demuxing only, no decoding: cheap even for long files)
to build a frame index: the presentation timestamp of every frame, in order, and where the
keyframes are. From it come the exact frame count, per-frame times (variable frame rate
included) and seeking by frame number: seek to the last keyframe at or before the wanted frame,
decode forward, and keep the frame whose timestamp is the indexed one. Frames are produced one
at a time (`VideoReader.frames`), so memory does not grow with the video's length.

Frames come out upright: the stream's display matrix (phones store portrait video as rotated
landscape) is applied, so `width`/`height` are those of the upright picture. Only rotations
by multiples of 90 degrees are applied; flips in the display matrix are ignored.

Every failure a user can cause (missing, unsupported, corrupt, truncated, audio-only or empty
file) raises `VideoError` naming the file and, where it applies, the frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UniHandError


class VideoError(UniHandError, ValueError):
    """A video cannot be read: missing, unsupported, corrupt, truncated, audio-only or empty."""


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its number in the video, its time in seconds and the upright RGB image."""

    index: int
    time: float
    image: np.ndarray  # (H, W, 3) uint8 RGB, upright


@dataclass(frozen=True, eq=False)
class VideoInfo:
    """What the file says about its video stream, plus the frame index built by scanning it."""

    path: Path
    width: int  # upright picture, pixels
    height: int
    fps: float  # nominal rate; see `variable_frame_rate` and `times` for the truth
    num_frames: int
    times: np.ndarray = field(repr=False)  # (T,) float64 seconds, the presentation time of each frame
    rotation: int  # degrees counter-clockwise applied to decoded pictures to make them upright
    codec: str
    variable_frame_rate: bool
    metadata: dict[str, str] = field(repr=False, default_factory=dict)  # container + stream tags

    @property
    def duration(self) -> float:
        """Seconds from the first frame's start to the last frame's end (last interval repeated)."""
        if self.num_frames == 1:
            return 1.0 / self.fps
        return float(self.times[-1] - self.times[0]) + float(self.times[-1] - self.times[-2])

    @property
    def image_size(self) -> tuple[int, int]:
        """(W, H) of the upright picture."""
        return self.width, self.height


def _av() -> Any:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - PyAV is a core dependency
        raise VideoError("reading video needs PyAV: pip install 'av>=14'") from exc
    av.logging.set_level(av.logging.PANIC)  # FFmpeg's own log lines are noise for our users
    return av


def _is_av_error(exc: BaseException) -> bool:
    import av

    return isinstance(exc, av.error.FFmpegError | OSError | ValueError | EOFError | MemoryError)


class _Overshoot(Exception):
    """Decoding after a seek began past the wanted frame (internal: seek earlier)."""


def _upright_turns(rotation: float) -> int:
    """FFmpeg's counter-clockwise display rotation -> number of counter-clockwise quarter turns."""
    return round(rotation / 90.0) % 4


class VideoReader:
    """Reads one video file: `info` at once, then frames streamed or fetched by number.

    Use as a context manager (or call `close`). Not thread-safe: one reader per thread.
    """

    def __init__(self, path: str | Path, *, threads: int = 0) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise VideoError(f"{self.path}: is a directory, not a video file")
        if self.path.stat().st_size == 0:
            raise VideoError(f"{self.path}: the file is empty (0 bytes)")
        self._av = _av()
        self._threads = threads
        self._container: Any = None
        self._stream: Any = None
        self._open()
        try:
            self.info = self._scan()
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- opening and the index

    def _open(self) -> None:
        self.close()
        try:
            container = self._av.open(str(self.path), mode="r")
        except Exception as exc:
            if not _is_av_error(exc):
                raise
            raise VideoError(
                f"{self.path}: cannot be opened as a video: the file is corrupt, truncated "
                f"(a recording that did not finish) or in a format FFmpeg does not read ({exc})"
            ) from exc
        self._container = container
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            what = f"only {', '.join(kinds)} streams" if kinds else "no streams at all"
            container.close()
            self._container = None
            raise VideoError(f"{self.path}: has no video stream ({what})")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            container.close()
            self._container = None
            raise VideoError(f"{self.path}: the video codec is not supported by this FFmpeg build")
        # Frame threads: a 1280x720 H.264 frame then costs ~3 ms of CPU to decode and convert.
        stream.thread_type = "AUTO"
        if self._threads:
            stream.codec_context.thread_count = self._threads
        self._stream = stream

    def _scan(self) -> VideoInfo:
        stream = self._stream
        # Read what the header says now: the stream object dies with its container at the reopen.
        ctx = stream.codec_context
        w, h, codec = int(ctx.width), int(ctx.height), str(ctx.name)
        time_base = stream.time_base or Fraction(1, 1)
        self._time_base = Fraction(time_base.numerator, time_base.denominator)
        rates = (stream.average_rate, stream.guessed_rate, stream.base_rate)
        declared_frames = int(stream.frames or 0)
        is_mp4 = "mp4" in self._container.format.name
        metadata = {str(k): str(v) for k, v in self._container.metadata.items()}
        metadata.update({str(k): str(v) for k, v in stream.metadata.items()})
        pts: list[int] = []
        key: list[bool] = []
        missing_pts = False
        seen = 0  # packets in the file, kept or not: compared with the count the header declares
        try:
            for packet in self._container.demux(stream):
                if packet.size == 0 and packet.pts is None:
                    continue  # the demuxer's final flush packet
                seen += 1
                if packet.size == 0 or packet.is_discard:
                    continue  # dropped-frame placeholders (AVI); frames an edit list cuts away
                if packet.pts is None:
                    missing_pts = True
                    break
                pts.append(int(packet.pts))
                key.append(bool(packet.is_keyframe))
        except Exception as exc:
            if not _is_av_error(exc):
                raise
            raise VideoError(
                f"{self.path}: the video data is corrupt or truncated after frame {len(pts)} ({exc})"
            ) from exc
        if missing_pts:
            pts, key = self._scan_by_decoding()
        if not pts:
            raise VideoError(f"{self.path}: the video stream has no frames")
        # MP4/MOV headers count their samples exactly; AVI's count includes dropped frames.
        declared = declared_frames if is_mp4 else 0
        if declared and not missing_pts and seen < declared:
            raise VideoError(
                f"{self.path}: truncated: the file declares {declared} frames but holds data for "
                f"only {seen} (frames {seen} to {declared - 1} are missing)"
            )
        order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
        self._pts = np.asarray(pts, dtype=np.int64)[order]
        if np.any(np.diff(self._pts) == 0):
            dup = int(np.flatnonzero(np.diff(self._pts) == 0)[0])
            raise VideoError(f"{self.path}: frames {dup} and {dup + 1} have the same timestamp")
        # Keyframe timestamps, sorted, for seeking.
        self._key_pts = np.sort(np.asarray(pts, dtype=np.int64)[np.asarray(key, dtype=bool)])
        if self._key_pts.size == 0 or self._key_pts[0] > self._pts[0]:
            self._key_pts = np.concatenate([[self._pts[0]], self._key_pts])
        times = self._pts.astype(np.float64) * float(self._time_base)
        fps, vfr = self._frame_rate(times, rates)
        if w <= 0 or h <= 0:
            raise VideoError(f"{self.path}: the video stream has no picture size")
        self._open()  # demuxing consumed the file; start again at its beginning
        turns = _upright_turns(self._read_rotation())
        if turns % 2:
            w, h = h, w
        self._turns = turns
        self._open()  # and again: reading the rotation decoded the first frame
        return VideoInfo(
            path=self.path,
            width=w,
            height=h,
            fps=fps,
            num_frames=len(times),
            times=times,
            rotation=90 * turns,
            codec=codec,
            variable_frame_rate=vfr,
            metadata=metadata,
        )

    def _scan_by_decoding(self) -> tuple[list[int], list[bool]]:
        """Index a stream whose packets carry no timestamps (raw elementary streams): decode it once."""
        self._open()
        pts: list[int] = []
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(30)
        tb = self._stream.time_base or Fraction(1, 1)
        step = 1.0 / float(rate) / float(tb)
        for i, frame in enumerate(self._decode_all()):
            pts.append(int(frame.pts) if frame.pts is not None else round(i * step))
        # No keyframe information: seeking will fall back to the start of the stream.
        return pts, [i == 0 for i in range(len(pts))]

    def _read_rotation(self) -> float:
        """The display rotation (counter-clockwise degrees) from the first frame's side data."""
        frames = self._decode_all()
        try:
            frame = next(frames, None)
            return 0.0 if frame is None else float(frame.rotation)
        finally:
            frames.close()

    def _frame_rate(self, times: np.ndarray, rates: tuple[Any, ...]) -> tuple[float, bool]:
        nominal = next((r for r in rates if r), None)
        if len(times) < 2:
            return (float(nominal) if nominal else 30.0), False
        diffs = np.diff(times)
        measured = (len(times) - 1) / float(times[-1] - times[0])
        tick = float(self._time_base)
        median = float(np.median(diffs))
        # Timestamps are rounded to the time base, so allow a couple of ticks of jitter.
        vfr = bool(np.max(np.abs(diffs - median)) > 2 * tick + 0.01 * median)
        if nominal and math.isclose(float(nominal), measured, rel_tol=2e-3):
            return float(nominal), vfr  # keep 30000/1001 exact rather than a rounded measurement
        return float(measured), vfr

    # ----------------------------------------------------------------- decoding

    def _decode_all(self) -> Iterator[Any]:
        try:
            yield from self._container.decode(self._stream)
        except Exception as exc:
            if not _is_av_error(exc):
                raise
            raise VideoError(f"{self.path}: the video data is corrupt and cannot be decoded ({exc})") from exc

    def _to_image(self, frame: Any) -> np.ndarray:
        image = frame.to_ndarray(format="rgb24")
        if self._turns:
            image = np.ascontiguousarray(np.rot90(image, self._turns))
        return image

    def frames(self, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[VideoFrame]:
        """Frames start, start+step, ... before stop, decoded one at a time (memory stays bounded).

        Seeking is frame-accurate: the frame with number `start` is the one the index says, for
        constant and variable frame rates alike. One iteration at a time per reader: starting
        another (or `read`) repositions the shared decoder.
        """
        if self._container is None:
            raise VideoError(f"{self.path}: the reader is closed")
        n = self.info.num_frames
        stop = n if stop is None else stop
        if not (0 <= start <= n and start <= stop <= n) or step < 1:
            raise IndexError(f"{self.path}: frames [{start}, {stop}) step {step} outside 0..{n}")
        if start == stop:
            return
        wanted = range(start, stop, step)
        # Seek to the last keyframe at or before the wanted frame. If decoding then starts after
        # it (B-frame delays; demuxers that seek by decode time), try the keyframe before; the
        # start of the stream always works.
        keys = self._key_pts
        target = int(self._pts[start])
        earlier = [int(k) for k in keys[(keys <= target) & (keys > self._pts[0])][::-1][:3]]
        for key_pts in [*earlier, None]:
            if key_pts is None:
                self._open()
            else:
                self._container.seek(key_pts, stream=self._stream, backward=True, any_frame=False)
            try:
                yield from self._decode_from(wanted, from_start=key_pts is None)
                return
            except _Overshoot:
                continue
        raise VideoError(f"{self.path}: frame {start} cannot be decoded (corrupt data near it)")

    def _decode_from(self, wanted: range, from_start: bool) -> Iterator[VideoFrame]:
        """Decode forward from the current position, yielding the frames numbered in `wanted`.

        Raises `_Overshoot` (before yielding anything) when decoding starts after wanted[0].
        """
        pts = self._pts
        first, last = wanted[0], wanted[-1]
        prev = -1
        for frame in self._decode_all():
            if frame.pts is None:
                continue
            i = int(np.searchsorted(pts, frame.pts))
            if i >= len(pts) or pts[i] != frame.pts:
                continue  # not an indexed frame (e.g. before an edit list's start)
            if prev < 0:
                if i < first:
                    continue
                if i > first:
                    if from_start:
                        break
                    raise _Overshoot
            elif i != prev + 1:
                raise VideoError(f"{self.path}: frame {prev + 1} is missing or corrupt in the video data")
            prev = i
            if (i - first) % wanted.step == 0:
                yield VideoFrame(index=i, time=float(pts[i] * self._time_base), image=self._to_image(frame))
            if i >= last:
                return
        if prev < 0 and not from_start:
            raise _Overshoot  # the seek landed past the frame; try an earlier keyframe
        raise VideoError(
            f"{self.path}: truncated or corrupt: decoding stopped before frame {max(prev + 1, first)} "
            f"of {self.info.num_frames}"
        )

    def read(self, index: int) -> VideoFrame:
        """Frame number `index` (negative counts from the end)."""
        n = self.info.num_frames
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"{self.path}: frame {index} outside 0..{n - 1}")
        frames = self.frames(index, index + 1)
        try:
            return next(frames)
        finally:
            frames.close()  # finish the decode generator now, while its container is open

    def __len__(self) -> int:
        return self.info.num_frames

    def __iter__(self) -> Iterator[VideoFrame]:
        return self.frames()

    # ----------------------------------------------------------------- lifetime

    def close(self) -> None:
        # Drop the stream before closing its container: freeing a frame-threaded decoder after
        # its container is closed can hang.
        if self._stream is not None:
            self._stream.codec_context.flush_buffers()
        self._stream = None
        if self._container is not None:
            container, self._container = self._container, None
            container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def probe(path: str | Path) -> VideoInfo:
    """Frame count, exact times, fps, upright size and rotation of a video, without decoding it all."""
    with VideoReader(path) as reader:
        return reader.info


def iter_frames(
    path: str | Path, start: int = 0, stop: int | None = None, step: int = 1
) -> Iterator[VideoFrame]:
    """Stream upright RGB frames of `path` (see `VideoReader.frames`)."""
    with VideoReader(path) as reader:
        yield from reader.frames(start, stop, step)
