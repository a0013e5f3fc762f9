"""The timeline: playhead, masked / locked / stale ranges, pins and drags, confidence and
uncertainty curves, plausibility lints, and a range selection for mask / lock / regenerate."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

MASKED = (220, 70, 70, 150)
LOCKED = (70, 130, 230, 170)
STALE = (150, 150, 150, 120)
CONFIDENCE = (90, 210, 110)
UNCERTAINTY = (245, 160, 60)
UNCERTAINTY_FULL_SCALE = 0.02  # metres of spread drawn at the top of the curve area


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous [start, stop) runs of True in a (T,) bool array."""
    f = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    edges = np.flatnonzero(f[1:] != f[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class Timeline(pg.PlotWidget):
    frameChanged = Signal(int)

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent, background=(30, 31, 36))
        self.setMouseEnabled(x=True, y=False)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.getAxis("left").setTicks(
            [[(0.2, "curves"), (0.55, "edits"), (0.78, "locked"), (1.02, "masked")]]
        )
        self.getAxis("left").setWidth(60)
        self.setYRange(-0.08, 1.38, padding=0)
        self.setLimits(yMin=-0.1, yMax=1.4)
        self.showGrid(x=True, y=False, alpha=0.15)
        legend = self.addLegend(
            offset=(60, 1), labelTextColor=(220, 220, 220), brush=(30, 31, 36, 200), colCount=6
        )
        legend.setLabelTextSize("8pt")
        self.confidence = self.plot(pen=pg.mkPen(*CONFIDENCE, width=1.5), name="detection confidence")
        self.uncertainty = self.plot(pen=pg.mkPen(*UNCERTAINTY, width=1.5), name="sample spread")
        self.masked = pg.BarGraphItem(x0=[], x1=[], y0=[], y1=[], brush=MASKED, pen=None)
        self.locked = pg.BarGraphItem(x0=[], x1=[], y0=[], y1=[], brush=LOCKED, pen=None)
        self.stale = pg.BarGraphItem(x0=[], x1=[], y0=[], y1=[], brush=STALE, pen=None)
        for item in (self.masked, self.locked, self.stale):
            self.addItem(item)
        self.drags = pg.ScatterPlotItem(
            symbol="s", size=8, brush=pg.mkBrush(255, 214, 64), pen=None, name="2D drag"
        )
        self.pins = pg.ScatterPlotItem(
            symbol="d", size=10, brush=pg.mkBrush(80, 230, 240), pen=None, name="3D pin"
        )
        self.jitter = pg.ScatterPlotItem(
            symbol="t1", size=9, brush=pg.mkBrush(240, 80, 80), pen=None, name="jitter"
        )
        self.limits = pg.ScatterPlotItem(
            symbol="t1", size=9, brush=pg.mkBrush(210, 90, 230), pen=None, name="joint limit"
        )
        for item in (self.drags, self.pins, self.jitter, self.limits):
            self.addItem(item)
        self.selection = pg.LinearRegionItem(values=(0, 1), brush=(255, 255, 255, 30), movable=True)
        self.selection.setZValue(-10)
        self.selection.setVisible(False)
        self.addItem(self.selection)
        self.playhead = pg.InfiniteLine(0, movable=True, pen=pg.mkPen(255, 255, 255, width=2))
        self.playhead.sigPositionChanged.connect(self._playhead_moved)
        self.addItem(self.playhead)
        self.num_frames = 1
        self._frame = 0

    # ----------------------------------------------------------------- data

    def set_length(self, num_frames: int) -> None:
        self.num_frames = num_frames
        self.setXRange(0, num_frames - 1, padding=0.01)
        self.setLimits(xMin=-5, xMax=num_frames + 5)
        self.playhead.setBounds((0, num_frames - 1))

    def set_track(
        self, arrays: dict[str, np.ndarray], jitter: np.ndarray | None, limits: np.ndarray | None
    ) -> None:
        t = len(arrays["joints"])
        x = np.arange(t)
        conf = arrays["kp2d_conf"].mean(axis=1) * 0.4
        self.confidence.setData(x, conf)
        spread = np.clip(arrays["uncertainty"].mean(axis=1) / UNCERTAINTY_FULL_SCALE, 0, 1) * 0.4
        self.uncertainty.setData(x, spread)
        self._bars(self.masked, runs(arrays["masked"]), 0.95, 1.09)
        self._bars(self.locked, runs(arrays["locked"]), 0.71, 0.85)
        self._bars(self.stale, runs(arrays["stale"]), 0.44, 0.48)
        d = np.flatnonzero(arrays["drag2d_mask"].any(axis=1))
        self.drags.setData(d, np.full(len(d), 0.52))
        p = np.flatnonzero(arrays["pin3d_mask"].any(axis=1))
        self.pins.setData(p, np.full(len(p), 0.6))
        j = np.flatnonzero(jitter) if jitter is not None else np.zeros(0, int)
        self.jitter.setData(j, np.full(len(j), -0.04))
        lim = np.flatnonzero(limits) if limits is not None else np.zeros(0, int)
        self.limits.setData(lim, np.full(len(lim), 0.0))

    @staticmethod
    def _bars(item: pg.BarGraphItem, spans: list[tuple[int, int]], y0: float, y1: float) -> None:
        item.setOpts(
            x0=[a - 0.5 for a, _ in spans],
            x1=[b - 0.5 for _, b in spans],
            y0=[y0] * len(spans),
            y1=[y1] * len(spans),
        )

    # ----------------------------------------------------------------- playhead and selection

    def set_frame(self, frame: int) -> None:
        self._frame = frame
        if round(self.playhead.value()) != frame:
            self.playhead.setValue(frame)

    def _playhead_moved(self) -> None:
        frame = int(np.clip(round(self.playhead.value()), 0, self.num_frames - 1))
        if frame != self._frame:
            self._frame = frame
            self.frameChanged.emit(frame)

    def set_selection(self, start: int, stop: int) -> None:
        """Select frames [start, stop)."""
        self.selection.setRegion((start - 0.5, stop - 0.5))
        self.selection.setVisible(True)

    def selected_range(self) -> tuple[int, int] | None:
        if not self.selection.isVisible():
            return None
        a, b = self.selection.getRegion()
        start = int(np.clip(np.ceil(a), 0, self.num_frames - 1))
        stop = int(np.clip(np.floor(b) + 1, start + 1, self.num_frames))
        return start, stop

    def mousePressEvent(self, ev) -> None:
        # Shift+drag selects a range; a plain click moves the playhead.
        pos = self.plotItem.vb.mapSceneToView(ev.position())
        if ev.button() == Qt.MouseButton.LeftButton and ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._select_from = pos.x()
            self.set_selection(round(pos.x()), round(pos.x()) + 1)
            ev.accept()
            return
        self._select_from = None
        under = self.items(ev.position().toPoint())
        own = {id(self.playhead), id(self.selection), *(id(line) for line in self.selection.lines)}
        if ev.button() == Qt.MouseButton.LeftButton and not any(id(i) in own for i in under):
            frame = int(np.clip(round(pos.x()), 0, self.num_frames - 1))
            self.set_frame(frame)
            self.frameChanged.emit(frame)
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev) -> None:
        if getattr(self, "_select_from", None) is not None:
            x = self.plotItem.vb.mapSceneToView(ev.position()).x()
            a, b = sorted((self._select_from, x))
            self.set_selection(round(a), round(b) + 1)
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev) -> None:
        self._select_from = None
        super().mouseReleaseEvent(ev)
