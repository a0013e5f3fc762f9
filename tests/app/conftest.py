"""GUI tests need a real X display (Xvfb): QOpenGLWidget cannot live on the offscreen platform."""

from __future__ import annotations

import os
import shutil

import pytest

from app.viewport import share_gl_contexts

# Before pytest-qt creates the QApplication, as the app does in run_app.
share_gl_contexts()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # pytest-xvfb starts Xvfb and sets DISPLAY before collection when Xvfb is installed.
    if os.environ.get("DISPLAY") or shutil.which("Xvfb"):
        return
    skip = pytest.mark.skip(reason="no display and no Xvfb: install xvfb (see .ci/run) to run GUI tests")
    for item in items:
        if "tests/app" in str(item.fspath):
            item.add_marker(skip)
