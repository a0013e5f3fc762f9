"""Video front end: decode and decode + hand detection speed, and memory over a long video.

    python benchmarks/bench_video.py [--clip PATH] [--minutes 3] [--out docs/results/video.json]

Each stage runs in a fresh Python process, so its peak memory (VmHWM) is its own:
- decode: every frame of the clip decoded to an upright RGB array (frames/s).
- end_to_end: `detect_conditions` on the clip: decode + MediaPipe detection + tracking +
  Conditions (frames/s wall clock, and CPU seconds per frame, which a busy machine changes less).
- long: the clip's packets concatenated (no re-encoding) into a `--minutes`-long 1280x720 video,
  then `detect_conditions` on it, sampling resident memory (VmRSS) every 5% of the frames: a
  flat curve means memory does not grow with length. The peak is extrapolated to 10 minutes
  (18,000 frames at 30 fps) from the growth per frame between the sample a quarter of the way
  in (after warm-up) and the last.
- vision: the shipped perceptron's backbone alone over the clip on one thread (CPU ms per frame),
  and the perceptron over all the clip's dense tokens (ms per 240 frames).
- estimate / estimate_no_vision: `estimate_video` end to end (models loaded first, not timed),
  with and without the vision path: frames/s and peak memory.

    python benchmarks/bench_video.py --stages vision,estimate,estimate_no_vision \
        --out docs/results/estimate_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "video" / "open_palm_1280x720_30fps.mp4"


def _mem_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def concat_clip(src_path: Path, dst_path: Path, minutes: float) -> int:
    """Repeat `src_path`'s video packets (shifted in time) until `minutes` long; returns frames."""
    import av

    n = 0
    with av.open(str(dst_path), "w") as dst:
        out, offset = None, 0
        target = None
        while target is None or offset < target:
            with av.open(str(src_path)) as src:
                stream = src.streams.video[0]
                if out is None:
                    out = dst.add_stream_from_template(stream)
                    target = int(minutes * 60 / float(stream.time_base))
                end = offset
                for packet in src.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.pts += offset
                    packet.dts += offset
                    end = max(end, packet.pts + (packet.duration or 1))
                    packet.stream = out
                    dst.mux(packet)
                    n += 1
                offset = end
    return n


def stage_decode(clip: Path) -> dict:
    from engine.video.decode import VideoReader

    with VideoReader(clip) as reader:
        start, cpu = time.perf_counter(), time.process_time()
        n = sum(1 for _ in reader.frames())
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"frames": n, "wall_s": wall, "fps": n / wall, "cpu_ms_per_frame": 1000 * cpu / n}


def stage_end_to_end(clip: Path) -> dict:
    from engine.video.conditions import detect_conditions

    start, cpu = time.perf_counter(), time.process_time()
    tracks = detect_conditions(clip)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    n = tracks[0].conditions.num_frames
    return {
        "frames": n,
        "wall_s": wall,
        "fps": n / wall,
        "cpu_ms_per_frame": 1000 * cpu / n,
        "cpu_fps": n / cpu,
        "detected": [t.num_detected for t in tracks],
        "peak_rss_mb": _mem_mb("VmHWM"),
    }


def stage_long(clip: Path, minutes: float) -> dict:
    from engine.video.conditions import detect_conditions

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.mp4"
        total = concat_clip(clip, path, minutes)
        samples: list[tuple[int, float]] = []
        every = max(1, total // 20)

        def progress(done: int, count: int) -> None:
            if done % every == 0 or done == count:
                samples.append((done, _mem_mb("VmRSS")))

        start, cpu = time.perf_counter(), time.process_time()
        tracks = detect_conditions(path, progress=progress)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    # Growth from a quarter of the way in (after the detector's warm-up allocations) to the end.
    first, last = samples[len(samples) // 4], samples[-1]
    per_frame_mb = (last[1] - first[1]) / max(last[0] - first[0], 1)
    ten_minutes = 10 * 60 * 30
    peak = _mem_mb("VmHWM")
    return {
        "minutes": minutes,
        "frames": total,
        "wall_s": wall,
        "fps": total / wall,
        "cpu_ms_per_frame": 1000 * cpu / total,
        "detected": [t.num_detected for t in tracks],
        "rss_samples_mb": samples,
        "growth_kb_per_frame": 1024 * per_frame_mb,
        "peak_rss_mb": peak,
        "extrapolated_peak_10min_mb": peak + max(per_frame_mb, 0.0) * max(ten_minutes - total, 0),
    }


def stage_vision(clip: Path) -> dict:
    import torch

    from engine.editing.infill import load_infiller
    from engine.video.vision import backbone_for, dense_tokens_to_file, hand_tokens

    torch.set_num_threads(1)
    perceptron = load_infiller("cpu", vision=True).perceptron
    backbone = backbone_for(perceptron)
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), time.process_time()
        dense = dense_tokens_to_file(clip, backbone, Path(tmp) / "t.npy")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        started = time.perf_counter()
        hand_tokens(perceptron, dense, None, None)
        perceptron_s = time.perf_counter() - started
    n = len(dense)
    return {
        "frames": n,
        "backbone_input": list(backbone.input_size(1280, 720)),
        "backbone_cpu_ms_per_frame": 1000 * cpu / n,
        "backbone_fps": n / wall,
        "perceptron_ms_per_240_frames": 1000 * perceptron_s * 240 / n,
    }


def stage_estimate(clip: Path, vision: bool) -> dict:
    from engine.editing.infill import load_infiller
    from engine.video.estimate import estimate_video

    load_infiller(vision=vision)  # loading is not what is timed
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = estimate_video(clip, Path(tmp) / "m.npz", hand="right", progress=False, vision=vision)[0]
        wall = time.perf_counter() - start
    return {
        "frames": result.frames,
        "wall_s": wall,
        "fps": result.frames / wall,
        "detected": result.detected_frames,
        "peak_rss_mb": _mem_mb("VmHWM"),
    }


def _run_stage(name: str, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--stage",
        name,
        "--clip",
        str(args.clip),
        "--minutes",
        str(args.minutes),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--stages", default="decode,end_to_end,long")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.clip.exists():
        print(f"{args.clip}: not found (pass --clip)", file=sys.stderr)
        return 1
    if args.stage:
        funcs = {
            "decode": lambda: stage_decode(args.clip),
            "end_to_end": lambda: stage_end_to_end(args.clip),
            "long": lambda: stage_long(args.clip, args.minutes),
            "vision": lambda: stage_vision(args.clip),
            "estimate": lambda: stage_estimate(args.clip, True),
            "estimate_no_vision": lambda: stage_estimate(args.clip, False),
        }
        print(json.dumps(funcs[args.stage]()))
        return 0
    import av
    import mediapipe

    results = {
        "clip": args.clip.name,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "versions": {"av": av.__version__, "mediapipe": mediapipe.__version__},
    }
    for name in args.stages.split(","):
        results[name] = _run_stage(name, args)
        print(name, json.dumps(results[name]), flush=True)
    results["load_average_at_end"] = os.getloadavg()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
