"""Screenshot of the whole editor on the built-in demo (docs/images/app_main.png), and the
drag-to-updated-mesh time.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot_app.py [--out PNG] [--measure N]

Without a display it re-runs itself under xvfb-run. The demo is edited the way a newcomer would:
a keypoint dragged, a joint pinned in 3D, the occluded frames masked and regenerated, a few frames
locked; then the window is grabbed. `--measure N` then makes N more drags, one after another, and
prints the median and 90th percentile of edit -> new mesh drawn in the viewport.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "app_main.png"))
    parser.add_argument("--measure", type=int, default=0, metavar="N", help="time N drags")
    parser.add_argument("--size", default="1500x900")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            sys.exit("no display: install xvfb (xvfb-run) or run under a desktop")
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1200x24", sys.executable, *sys.argv]
        return subprocess.call(cmd)
    sys.path.insert(0, str(REPO))
    from app.viewport import share_gl_contexts

    share_gl_contexts()
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    from app.main_window import MainWindow

    w = MainWindow(recovery_dir=Path(os.environ.get("TMPDIR", "/tmp")) / "unihand-screenshot-recovery")
    width, height = (int(v) for v in args.size.split("x"))
    w.resize(width, height)
    w.show()

    def wait(condition, timeout: float = 120.0) -> None:
        deadline = time.time() + timeout
        while not condition():
            if time.time() > deadline:
                sys.exit("timed out waiting for the window")
            app.processEvents()
            time.sleep(0.005)

    def settle(seconds: float = 0.3) -> None:
        wait(lambda: not w.worker.busy())
        end = time.time() + seconds
        wait(lambda: time.time() > end)

    wait(lambda: w.session is not None and bool(w.engine_name))
    settle()
    frame = 96
    w.show_frame(frame)
    a = w.track.arrays
    uv = a["kp2d_obs"][frame, 8]
    w.drag_keypoint(8, float(uv[0] + 35), float(uv[1] + 6))  # index fingertip
    settle()
    thumb = a["joints"][frame, 4] + [0.0, -0.02, -0.01]
    w.pin_joint(4, thumb)  # thumb tip pinned 2 cm higher
    settle()
    for kind, (start, stop) in (("mask", (108, 132)), ("regenerate", (108, 132)), ("lock", (20, 40))):
        w.timeline.set_selection(start, stop)
        w.range_edit(kind)
        settle()
    w.timeline.set_selection(108, 132)
    w.panel.onion.setChecked(True)
    w.select_joint(8)
    w.show_frame(frame)
    settle(0.8)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not w.grab().save(str(out)):
        sys.exit(f"could not write {out}")
    print(f"wrote {out} ({w.width()}x{w.height()}); engine: {w.engine_name}")

    if args.measure:
        w.panel.onion.setChecked(False)
        w.latencies_ms.clear()
        for i in range(args.measure):
            f = 20 + (i * 7) % 140
            w.show_frame(f)
            settle(0.1)
            joint = (8, 12, 16, 20, 4)[i % 5]
            p = w.track.arrays["kp2d_obs"][f, joint]
            w.drag_keypoint(joint, float(p[0] + 20), float(p[1] - 8))
            wait(lambda n=i: len(w.latencies_ms) == n + 1)
        lat = sorted(w.latencies_ms)
        stats = {
            "drags": len(lat),
            "drag_to_mesh_ms_p50": round(statistics.median(lat), 1),
            "drag_to_mesh_ms_p90": round(lat[int(0.9 * (len(lat) - 1))], 1),
            "engine": w.engine_name,
            "cpus": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(stats))
    w.session.dirty = False  # nothing to recover from a screenshot run
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
