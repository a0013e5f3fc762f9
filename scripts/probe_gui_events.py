"""Where the GUI thread's time goes while the editor works (the figures in docs/app.md).

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/probe_gui_events.py [--min-ms 8]

Opens the main window on the demo, makes four keypoint drags, a whole-clip regenerate and an
autosave, and prints, on one time line:
- every event delivery on the GUI thread that took at least `--min-ms` (receiver class, event type;
  a window compose shows as an `UpdateRequest` to MainWindow);
- the window's own slots (result handling, deferred refresh, autosave...) over 5 ms;
- gaps over 25 ms between ticks of a 5 ms timer (what the event-loop probe test measures);
- garbage-collector pauses over 3 ms.
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SLOTS = ("_on_job_finished", "_refresh_views", "_on_progress", "_on_preview", "show_frame", "autosave")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--min-ms", type=float, default=8.0, help="report event deliveries this long")
    args = parser.parse_args(argv)

    from app.viewport import share_gl_contexts

    share_gl_contexts()  # before the QApplication, as the app does
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    t0 = time.perf_counter()
    log: list[tuple] = []

    def note(*what: object) -> None:
        log.append((round(time.perf_counter() - t0, 3), *what))

    class TimedApplication(QApplication):
        def notify(self, receiver, event) -> bool:
            start = time.perf_counter()
            handled = super().notify(receiver, event)
            ms = (time.perf_counter() - start) * 1000
            if ms >= args.min_ms:
                note("event", round(ms, 1), type(receiver).__name__, event.type().name)
            return handled

    gc_start = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_start[0] = time.perf_counter()
        elif (ms := (time.perf_counter() - gc_start[0]) * 1000) > 3:
            note("gc", info["generation"], round(ms, 1))

    gc.callbacks.append(on_gc)
    app = TimedApplication(sys.argv[:1])
    from app.main_window import MainWindow

    for name in SLOTS:
        original = getattr(MainWindow, name)

        @functools.wraps(original)
        def timed(self, *a, _original=original, _name=name, **k):
            start = time.perf_counter()
            out = _original(self, *a, **k)
            if (ms := (time.perf_counter() - start) * 1000) > 5:
                note("slot", _name, round(ms, 1))
            return out

        setattr(MainWindow, name, timed)

    window = MainWindow(hand_model="default", recovery_dir=tempfile.mkdtemp(), autosave_ms=10**9)
    window.resize(1200, 760)  # the size the GUI tests use
    window.show()

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def until(condition, timeout_s: float = 120.0) -> None:
        deadline = time.time() + timeout_s
        while not condition():
            if time.time() > deadline:
                raise SystemExit("timed out waiting for the editor")
            wait(10)

    until(lambda: window.session is not None and bool(window.engine_name))
    frame = 40
    window.show_frame(frame)
    uv = window.track.arrays["kp2d_obs"][frame, 8]
    window.drag_keypoint(8, float(uv[0] + 5), float(uv[1]))  # warm up the engine
    until(lambda: len(window.latencies_ms) == 1)
    wait(500)
    log.clear()
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        if now - last[0] > 0.025:
            note("GAP", round((now - last[0]) * 1000, 1))
        last[0] = now

    probe = QTimer()
    probe.setInterval(5)
    probe.timeout.connect(tick)
    probe.start()
    joints = (8, 12, 4, 16)
    for i in range(len(joints) + 1):
        window.show_frame(frame + 10 * i)
        wait(100)
        if i == len(joints):
            window.timeline.set_selection(0, window.track.num_frames)
            window.panel.regenerate_button.click()
        else:
            p = window.track.arrays["kp2d_obs"][window.frame, joints[i]]
            window.drag_keypoint(joints[i], float(p[0] + 25), float(p[1] - 10))
        note("--- edit", i)
        until(lambda n=i: len(window.latencies_ms) == n + 2)
        note("--- result drawn", i)
        wait(300)
    note("--- autosave queued" if window.autosave() else "--- nothing to autosave")
    until(lambda: not window.autosaver.busy())
    note("--- autosave written")
    wait(100)
    probe.stop()
    for row in log:
        print(*row)
    print("drag/regenerate to mesh (ms):", [round(x) for x in window.latencies_ms[1:]])
    window.close()
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
