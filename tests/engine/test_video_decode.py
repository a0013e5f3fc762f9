"""Video decoding: exact timestamps, frame-accurate seeking (VFR too), rotation, streaming, errors.

Generated clips carry their frame number in the picture (8 black/white stripes, one bit each,
robust to compression), so every seek is checked against the content, not only the metadata.
"""

from __future__ import annotations

import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from engine.errors import UniHandError
from engine.video.decode import VideoError, VideoReader, iter_frames, probe
from engine.video.encode import write_video

W, H = 64, 48


def coded_frame(i: int) -> np.ndarray:
    img = np.full((H, W, 3), 16, np.uint8)
    for b in range(8):
        if (i >> b) & 1:
            img[:, b * 8 : (b + 1) * 8] = 235
    return img


def frame_number(img: np.ndarray) -> int:
    return sum(1 << b for b in range(8) if img[:, b * 8 + 2 : (b + 1) * 8 - 2].mean() > 128)


def vfr_times(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    times = np.concatenate([[0.0], np.cumsum(rng.choice([1 / 60, 1 / 30, 1 / 15, 0.05, 0.1], size=n - 1))])
    return times  # multiples of 1/60 s and 1/20 s: exact on a 1/90000 time base


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    out = {}
    # Short GOPs with B-frames: seeking must land on non-keyframes whose decode order differs.
    gop = {"g": "12", "bf": "2"}
    out["cfr"] = write_video(root / "cfr.mp4", (coded_frame(i) for i in range(60)), fps=25, options=gop)
    times = vfr_times(90)
    out["vfr_mp4"] = write_video(
        root / "vfr.mp4", (coded_frame(i) for i in range(90)), times=times, options=gop
    )
    out["vfr_mkv"] = write_video(
        root / "vfr.mkv", (coded_frame(i) for i in range(90)), times=times, options=gop
    )
    out["vfr_webm"] = write_video(
        root / "vfr.webm",
        (coded_frame(i) for i in range(90)),
        times=times,
        codec="libvpx-vp9",
        options={"g": "10"},
    )
    return out


# ----------------------------------------------------------------------------- timestamps, seeking


def test_constant_rate_clip_reports_fps_size_count_and_times(clips: dict[str, Path]) -> None:
    info = probe(clips["cfr"])
    assert (info.width, info.height, info.num_frames) == (W, H, 60)
    assert info.fps == 25.0 and not info.variable_frame_rate
    np.testing.assert_allclose(info.times, np.arange(60) / 25.0, atol=1e-9)
    assert info.duration == pytest.approx(60 / 25.0)
    frames = list(iter_frames(clips["cfr"]))
    assert [f.index for f in frames] == list(range(60))
    assert [frame_number(f.image) for f in frames] == list(range(60))
    assert frames[0].image.shape == (H, W, 3) and frames[0].image.dtype == np.uint8


@pytest.mark.parametrize("name", ["vfr_mp4", "vfr_mkv", "vfr_webm"])
def test_variable_frame_rate_times_and_seeks_are_exact(clips: dict[str, Path], name: str) -> None:
    expected = vfr_times(90)
    with VideoReader(clips[name]) as reader:
        info = reader.info
        assert info.num_frames == 90 and info.variable_frame_rate
        # MKV/WebM store milliseconds: times are exact to the container's time base.
        tol = 1e-9 if name == "vfr_mp4" else 5e-4
        np.testing.assert_allclose(info.times, expected, atol=tol)
        assert info.fps == pytest.approx(89 / expected[-1], rel=1e-3)
        # Random access in any order, keyframes or not, lands on the very frame asked for.
        for i in [0, 89, 1, 37, 36, 13, 12, 11, 88, 50, 50, 2]:
            frame = reader.read(i)
            assert (frame.index, frame_number(frame.image)) == (i, i)
            assert frame.time == pytest.approx(expected[i], abs=tol)
        assert frame_number(reader.read(-1).image) == 89
        got = [(f.index, frame_number(f.image)) for f in reader.frames(23, 71, 6)]
        assert got == [(i, i) for i in range(23, 71, 6)]
        assert [frame_number(f.image) for f in reader.frames(85)] == [85, 86, 87, 88, 89]
        assert list(reader.frames(40, 40)) == []


def test_out_of_range_requests_raise_index_error(clips: dict[str, Path]) -> None:
    with VideoReader(clips["cfr"]) as reader:
        with pytest.raises(IndexError, match="frame 60"):
            reader.read(60)
        with pytest.raises(IndexError):
            next(reader.frames(10, 5))
    with pytest.raises(VideoError, match="the reader is closed"):
        reader.read(0)


def test_streaming_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    """Decoding 240 frames needs no more Python-side memory than decoding 24: nothing accumulates."""
    path = write_video(tmp_path / "long.mp4", (coded_frame(i % 256) for i in range(240)), fps=30)

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            count = sum(1 for _ in iter_frames(path, 0, n))
            assert count == n
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, long = peak(24), peak(240)
    # The index grows by 8 bytes a frame; frames themselves must not pile up (each is 9 KB).
    assert long < short + 100_000, (short, long)


# ----------------------------------------------------------------------------- rotation


@pytest.mark.parametrize(
    ("rotation", "corner"), [(-90, "top_right"), (90, "bottom_left"), (180, "bottom_right")]
)
def test_rotation_metadata_gives_upright_frames(tmp_path: Path, rotation: int, corner: str) -> None:
    """A white block in the top-left of the stored picture; the display matrix says how to turn it.

    FFmpeg's rotation is counter-clockwise: -90 (a phone's "rotate=90" tag) turns the picture a
    quarter clockwise, taking its top-left corner to the top-right.
    """
    img = np.zeros((H, W, 3), np.uint8)
    img[:16, :16] = 255
    path = write_video(tmp_path / "rot.mp4", [img] * 3, rotation=rotation)
    with VideoReader(path) as reader:
        info = reader.info
        size = (H, W) if rotation % 180 else (W, H)
        assert (info.width, info.height) == size
        assert info.rotation == rotation % 360
        up = reader.read(1).image
    assert up.shape == (info.height, info.width, 3)
    blocks = {
        "top_right": up[:16, -16:],
        "bottom_left": up[-16:, :16],
        "bottom_right": up[-16:, -16:],
    }
    assert blocks[corner].mean() > 200
    assert up[:16, :16].mean() < 50 or corner == "top_left"


# ----------------------------------------------------------------------------- bad files


def _write_audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        frame.pts = 0
        frame.time_base = Fraction(1, 16000)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_audio_only_file_is_a_clear_error(tmp_path: Path) -> None:
    path = _write_audio_only(tmp_path / "voice.m4a")
    with pytest.raises(VideoError, match=r"voice\.m4a: has no video stream \(only audio streams\)"):
        VideoReader(path)


def test_zero_frame_video_is_a_clear_error(tmp_path: Path) -> None:
    """A video track without a single frame (beside an audio track, so the muxer keeps it)."""
    import av

    path = tmp_path / "empty.mkv"
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, 0, Fraction(1, 16000)
        container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    with pytest.raises(VideoError, match=r"empty\.mkv: the video stream has no frames"):
        VideoReader(path)


def test_empty_missing_and_garbage_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such file"):
        VideoReader(tmp_path / "nope.mp4")
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        VideoReader(tmp_path / "zero.mp4")
    (tmp_path / "notes.mp4").write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(VideoError, match=r"notes\.mp4: cannot be opened as a video"):
        VideoReader(tmp_path / "notes.mp4")
    with pytest.raises(VideoError, match="directory"):
        VideoReader(tmp_path)
    assert issubclass(VideoError, UniHandError)


def test_truncated_files_are_clear_errors(clips: dict[str, Path], tmp_path: Path) -> None:
    data = clips["cfr"].read_bytes()
    # A recording cut off before its index was written (MP4 index at the end): unreadable.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(VideoError, match=r"cut\.mp4: cannot be opened.*truncated"):
        VideoReader(cut)
    # Index at the front (faststart) and the frame data cut short: the missing frames are named.
    fast = write_video(
        tmp_path / "fast.mp4",
        (coded_frame(i) for i in range(60)),
        fps=25,
        container_options={"movflags": "faststart"},
    )
    blob = fast.read_bytes()
    (tmp_path / "fastcut.mp4").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(VideoError, match=r"fastcut\.mp4: truncated: the file declares 60 frames"):
        VideoReader(tmp_path / "fastcut.mp4")


def test_corrupt_header_is_a_clear_error(clips: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(clips["vfr_mkv"].read_bytes())
    data[:64] = bytes(64)
    (tmp_path / "bad.mkv").write_bytes(bytes(data))
    with pytest.raises(VideoError, match=r"bad\.mkv"):
        VideoReader(tmp_path / "bad.mkv")


# ----------------------------------------------------------------------------- the real clip


@pytest.mark.shared_data
def test_real_clip_length_rate_and_frame_accurate_seeks(shared_data: Path) -> None:
    path = shared_data / "video" / "open_palm_1280x720_30fps.mp4"
    if not path.exists():
        pytest.skip(f"{path} is not present")
    with VideoReader(path) as reader:
        info = reader.info
        assert (info.width, info.height, info.num_frames, info.fps) == (1280, 720, 621, 30.0)
        assert info.codec == "h264" and info.rotation == 0 and not info.variable_frame_rate
        np.testing.assert_allclose(info.times, np.arange(621) / 30.0, atol=1e-6)
        sequential = {f.index: f.image for f in reader.frames(0, 70)}
        for i in (69, 1, 35, 0, 64):
            frame = reader.read(i)
            assert frame.index == i and frame.time == pytest.approx(i / 30.0)
            np.testing.assert_array_equal(frame.image, sequential[i])
        assert reader.read(620).time == pytest.approx(620 / 30.0)
