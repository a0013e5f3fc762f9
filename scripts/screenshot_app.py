"""Save a screenshot of the main window on the built-in demo (for the docs; runs under Xvfb too).

xvfb-run -a -s "-screen 0 1280x900x24" python scripts/screenshot_app.py [-o docs/images/app_demo.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from app.viewport import share_gl_contexts


def _wait(app: QApplication, until, timeout_ms: int) -> bool:
    waited = 0
    while not until() and waited < timeout_ms:
        loop = QEventLoop()
        QTimer.singleShot(50, loop.quit)
        loop.exec()
        waited += 50
    return bool(until())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/images/app_demo.png"))
    parser.add_argument("--frame", type=int, default=75)
    parser.add_argument("--hand", default="default")
    args = parser.parse_args(argv)
    share_gl_contexts()
    app = QApplication(sys.argv[:1])
    window = MainWindow(hand_model=args.hand)
    window.show()
    if not _wait(app, lambda: window.clip is not None or window.load_error is not None, 60_000):
        print("error: the demo did not load within 60 s", file=sys.stderr)
        return 1
    if window.load_error is not None:
        print(f"error: {window.load_error}", file=sys.stderr)
        return 1
    window.slider.setValue(args.frame)
    _wait(app, lambda: False, 300)  # let the viewport repaint
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(args.out)):
        print(f"error: could not write {args.out}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
