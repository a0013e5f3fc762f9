"""The video view: the frame, the projected mesh and skeleton of the motion, and the 2D keypoint
conditions as draggable handles (a drag becomes a 2D condition at that frame on release)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QColor

from engine.hand.skeleton import MP21_PARENTS

_BONES = np.array([(p, c) for c, p in enumerate(MP21_PARENTS) if p >= 0])
DRAG_COLOR = (255, 214, 64)
PICK_RADIUS_PX = 12.0


def confidence_color(conf: float) -> QColor:
    """Red (unsure) -> green (confident)."""
    c = float(np.clip(conf, 0.0, 1.0))
    return QColor(int(235 * (1 - c) + 60 * c), int(70 * (1 - c) + 220 * c), 80)


class KeypointHandles(pg.ScatterPlotItem):
    """21 handles; dragging one moves it and emits `dragFinished(joint, x, y)` on release."""

    dragFinished = Signal(int, float, float)
    picked = Signal(int)

    def __init__(self) -> None:
        super().__init__(size=11, pxMode=True, hoverable=True)
        self.positions = np.zeros((21, 2))
        self._drag: int | None = None
        self._offset = np.zeros(2)

    def set_handles(self, positions: np.ndarray, brushes: list, symbols: list) -> None:
        self.positions = np.asarray(positions, dtype=np.float64).copy()
        self.setData(
            pos=self.positions,
            data=np.arange(21),
            brush=brushes,
            symbol=symbols,
            pen=pg.mkPen(20, 20, 20, 200, width=1.2),
        )

    def joint_at(self, point: QPointF) -> int | None:
        """The handle nearest to `point` (scene coords) within a few screen pixels."""
        vb = self.getViewBox()
        if vb is None or not len(self.positions):
            return None
        px = vb.viewPixelSize()
        p = self.mapFromScene(point)
        d = np.hypot((self.positions[:, 0] - p.x()) / px[0], (self.positions[:, 1] - p.y()) / px[1])
        j = int(np.argmin(d))
        return j if d[j] <= PICK_RADIUS_PX else None

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != pg.QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            joint = self.joint_at(ev.buttonDownScenePos())
            if joint is None:
                ev.ignore()
                return
            self._drag = joint
            down = self.mapFromScene(ev.buttonDownScenePos())
            self._offset = self.positions[joint] - np.array([down.x(), down.y()])
            self.picked.emit(joint)
        elif self._drag is None:
            ev.ignore()
            return
        pos = self.mapFromScene(ev.scenePos())
        self.positions[self._drag] = np.array([pos.x(), pos.y()]) + self._offset
        self.setData(pos=self.positions, data=np.arange(21))
        ev.accept()
        if ev.isFinish():
            joint, self._drag = self._drag, None
            x, y = self.positions[joint]
            self.dragFinished.emit(joint, float(x), float(y))

    def mouseClickEvent(self, ev) -> None:
        joint = self.joint_at(ev.scenePos())
        if joint is None:
            ev.ignore()
            return
        self.picked.emit(joint)
        ev.accept()


class VideoView(pg.GraphicsLayoutWidget):
    """Shows one video frame in image pixel coordinates (y down) with the overlays."""

    keypointDragged = Signal(int, float, float)  # joint, u, v (pixels)
    jointPicked = Signal(int)

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent)
        self.setBackground((30, 31, 36))
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.mesh = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(255, 255, 255, 28, width=1))
        self.skeleton = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(80, 170, 255, 230, width=2.5))
        self.joints = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(80, 170, 255, 230))
        self.handles = KeypointHandles()
        self.label = pg.TextItem("", color=(230, 230, 230), anchor=(0, 0))
        for item in (self.mesh, self.skeleton, self.joints, self.handles, self.label):
            self.view.addItem(item)
        self.handles.dragFinished.connect(self.keypointDragged)
        self.handles.picked.connect(self.jointPicked)
        self._edges: np.ndarray | None = None
        self.image_size = (640, 480)
        self.selected_joint: int | None = None

    def set_image_size(self, width: int, height: int) -> None:
        self.image_size = (width, height)
        self.view.setRange(xRange=(0, width), yRange=(0, height), padding=0.02)

    def set_frame_image(self, frame: np.ndarray | None) -> None:
        """An (h,w,3) uint8 frame stretched over the image's pixel size; None: a blank frame."""
        w, h = self.image_size
        if frame is None:
            frame = np.full((8, 8, 3), 24, np.uint8)
        self.image.setImage(frame, autoLevels=False, levels=(0, 255))
        self.image.setRect(0, 0, w, h)

    def set_overlay(
        self,
        motion_uv: np.ndarray | None,
        mesh_uv: np.ndarray | None,
        faces: np.ndarray | None,
        handles_uv: np.ndarray | None,
        handle_conf: np.ndarray | None,
        handle_state: np.ndarray | None,
        text: str = "",
    ) -> None:
        """motion_uv (21,2) projected joints of the motion; mesh_uv (V,2) projected vertices;
        handles_uv (21,2) the 2D conditions (detections or drags); handle_state (21,) ints:
        0 observed, 1 dragged by the user, 2 not observed (handle shown at the motion's joint)."""
        if motion_uv is not None:
            self.skeleton.setData(motion_uv[_BONES.reshape(-1), 0], motion_uv[_BONES.reshape(-1), 1])
            self.joints.setData(pos=motion_uv)
        if mesh_uv is not None and faces is not None:
            if self._edges is None or self._edges.max() >= len(mesh_uv):
                # Every third face's edges: reads as the mesh, at a third of the drawing cost.
                f = faces[::3]
                e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
                self._edges = np.unique(np.sort(e, axis=1), axis=0).reshape(-1)
            pts = mesh_uv[self._edges]
            self.mesh.setData(pts[:, 0], pts[:, 1])
        if handles_uv is not None:
            brushes, symbols = [], []
            for j in range(21):
                state = int(handle_state[j]) if handle_state is not None else 0
                if state == 1:
                    brushes.append(pg.mkBrush(*DRAG_COLOR))
                    symbols.append("s")
                elif state == 2:
                    brushes.append(pg.mkBrush(150, 150, 150, 110))
                    symbols.append("o")
                else:
                    conf = float(handle_conf[j]) if handle_conf is not None else 1.0
                    brushes.append(pg.mkBrush(confidence_color(conf)))
                    symbols.append("o")
                if j == self.selected_joint:
                    symbols[-1] = "star"
            self.handles.set_handles(handles_uv, brushes, symbols)
        self.label.setText(text)
        self.label.setPos(8, 8)
