"""The 3D viewport: a shaded hand mesh and its skeleton in an orbitable OpenGL view."""

from __future__ import annotations

import numpy as np
import pyqtgraph.opengl as gl
from pyqtgraph.opengl import shaders
from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QVector4D
from PySide6.QtWidgets import QWidget

from engine.hand.skeleton import MP21_PARENTS

SKIN = (0.93, 0.74, 0.62, 1.0)
BACKGROUND = (38, 40, 46)
_BONES = np.array([(p, c) for c, p in enumerate(MP21_PARENTS) if p >= 0]).reshape(-1)


def share_gl_contexts() -> None:
    """Call before the QApplication exists: every GL widget then shares one context group.

    pyqtgraph caches its line shader program once per class, which is only valid in other
    widgets' contexts (a second viewport, a reopened window) when the contexts share objects.
    """
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


def _skin_shader() -> shaders.ShaderProgram:
    """Two-sided Lambert with a headlight plus a soft key light: pyqtgraph's 'shaded' lights from
    behind the viewer's right shoulder, which leaves a palm facing the camera black."""
    vertex = shaders.VertexShader(
        """
        uniform mat4 u_mvp;
        uniform mat3 u_normal;
        attribute vec4 a_position;
        attribute vec3 a_normal;
        attribute vec4 a_color;
        varying vec4 v_color;
        varying vec3 v_normal;
        void main() {
            v_normal = normalize(u_normal * a_normal);
            v_color = a_color;
            gl_Position = u_mvp * a_position;
        }
        """
    )
    fragment = shaders.FragmentShader(
        """
        #ifdef GL_ES
        precision mediump float;
        #endif
        varying vec4 v_color;
        varying vec3 v_normal;
        void main() {
            vec3 n = normalize(v_normal);
            float head = abs(n.z);
            float key = max(dot(n, normalize(vec3(-0.4, 0.6, 0.7))), 0.0);
            vec3 rgb = v_color.rgb * (0.22 + 0.55 * head + 0.3 * key);
            gl_FragColor = vec4(min(rgb, vec3(1.0)), v_color.a);
        }
        """
    )
    return shaders.ShaderProgram(None, [vertex, fragment])


def camera_to_view(points: np.ndarray) -> np.ndarray:
    """OpenCV camera space (x right, y down, z forward) -> the viewer's z-up world (x, z, -y)."""
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def view_to_camera(points: np.ndarray) -> np.ndarray:
    """The inverse of `camera_to_view`."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


PICK_RADIUS_PX = 14.0


def mesh_data(vertices: np.ndarray, faces: np.ndarray) -> gl.MeshData:
    """pyqtgraph mesh data with the vertex normals computed here, vectorised: MeshData's own loop
    over vertices costs tens of milliseconds per frame on the GUI thread."""
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces)
    face_normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    normals = np.zeros_like(v)
    for k in range(3):
        np.add.at(normals, f[:, k], face_normals)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    md = gl.MeshData(vertexes=v, faces=f)
    md._vertexNormals = normals
    return md


PIN_COLOR = (0.3, 0.95, 1.0, 1.0)
SELECTED_COLOR = (1.0, 0.85, 0.2, 1.0)


class HandViewport(gl.GLViewWidget):
    """Shows one posed hand; `set_frame` swaps in new vertices and keypoints.

    Left-drag orbits, middle-drag (or ctrl+left) pans, the wheel zooms. Left-dragging a joint moves
    it in the view plane; on release `jointDragged(joint, xyz)` gives the new camera-space position
    (a 3D pin)."""

    jointDragged = Signal(int, object)
    jointPicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackgroundColor(BACKGROUND)
        self.grid = gl.GLGridItem()
        self.grid.setSize(0.6, 0.6)
        self.grid.setSpacing(0.05, 0.05)
        self.addItem(self.grid)
        self.mesh = gl.GLMeshItem(smooth=True, shader=_skin_shader(), color=SKIN, glOptions="opaque")
        self.skeleton = gl.GLLinePlotItem(
            mode="lines", color=(0.25, 0.6, 1.0, 1.0), width=2.0, antialias=True
        )
        self.skeleton.setGLOptions("additive")  # drawn over the skin: no depth test
        # Hidden until the first frame: an empty GLMeshItem cannot draw.
        self.mesh.setVisible(False)
        self.skeleton.setVisible(False)
        self.addItem(self.mesh)
        self.addItem(self.skeleton)
        self.pins = gl.GLScatterPlotItem(pos=np.zeros((1, 3)), color=PIN_COLOR, size=14.0, pxMode=True)
        self.pins.setGLOptions("additive")
        self.selected = gl.GLScatterPlotItem(
            pos=np.zeros((1, 3)), color=SELECTED_COLOR, size=16.0, pxMode=True
        )
        self.selected.setGLOptions("additive")
        self.onion = [
            gl.GLLinePlotItem(mode="lines", color=(0.6, 0.6, 0.7, 0.35), width=1.0, antialias=True)
            for _ in range(2)
        ]
        self.frustum = gl.GLLinePlotItem(
            mode="lines", color=(0.95, 0.8, 0.3, 0.6), width=1.0, antialias=False
        )
        for item in (self.pins, self.selected, *self.onion, self.frustum):
            item.setVisible(False)
            self.addItem(item)
        self._faces: np.ndarray | None = None
        self._framed = False
        self.keypoints = np.zeros((0, 3))  # current frame, camera space
        self._drag: int | None = None
        self._drag_depth = 0.0
        self._drag_point: np.ndarray | None = None
        self.on_painted = None  # called after each paint (the window times edits up to the drawn mesh)

    def paintGL(self, *args, **kwargs) -> None:
        super().paintGL(*args, **kwargs)
        if self.on_painted is not None:
            self.on_painted()

    def set_frame(self, vertices: np.ndarray, keypoints: np.ndarray, faces: np.ndarray) -> None:
        verts = camera_to_view(vertices)
        kps = camera_to_view(keypoints)
        self.mesh.setMeshData(meshdata=mesh_data(verts, faces), smooth=True)
        self.skeleton.setData(pos=kps[_BONES])
        self.mesh.setVisible(True)
        self.skeleton.setVisible(True)
        self.keypoints = np.asarray(keypoints, dtype=np.float64)
        if not self._framed:
            self.frame_points(verts)

    def set_skeleton(self, keypoints: np.ndarray) -> None:
        """Only the skeleton (e.g. a preview, or before the mesh of a new motion arrives)."""
        self.keypoints = np.asarray(keypoints, dtype=np.float64)
        self.skeleton.setData(pos=camera_to_view(self.keypoints)[_BONES])
        self.skeleton.setVisible(True)

    def set_markers(self, pinned: np.ndarray, selected: np.ndarray | None) -> None:
        """Pinned joint positions (n,3) and the selected joint (3,) or None, camera space."""
        self.pins.setVisible(len(pinned) > 0)
        if len(pinned):
            self.pins.setData(pos=camera_to_view(np.asarray(pinned, dtype=np.float64)))
        self.selected.setVisible(selected is not None)
        if selected is not None:
            self.selected.setData(pos=camera_to_view(np.asarray(selected, dtype=np.float64))[None])

    def set_onion(self, neighbours: list[np.ndarray]) -> None:
        """Ghost skeletons of neighbouring frames ((21,3) each, camera space); [] hides them."""
        for item, kp in zip(self.onion, [*neighbours, None, None], strict=False):
            item.setVisible(kp is not None)
            if kp is not None:
                item.setData(pos=camera_to_view(kp)[_BONES])

    def set_frustum(self, K: np.ndarray, width: int, height: int, depth: float = 0.08) -> None:
        """The video camera (at the origin of camera space) as a wire pyramid `depth` metres deep."""
        corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
        rays = np.c_[corners, np.ones(4)] @ np.linalg.inv(K).T * depth
        lines = [np.zeros(3), rays[0], np.zeros(3), rays[1], np.zeros(3), rays[2], np.zeros(3), rays[3]]
        lines += [rays[0], rays[1], rays[1], rays[2], rays[2], rays[3], rays[3], rays[0]]
        self.frustum.setData(pos=camera_to_view(np.array(lines)))
        self.frustum.setVisible(True)

    # ----------------------------------------------------------------- picking and dragging joints

    def _mvp(self):
        w, h = self.deviceWidth(), self.deviceHeight()
        return self.projectionMatrix((0, 0, w, h), (0, 0, w, h)) * self.viewMatrix()

    def project_to_widget(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Camera-space points (n,3) -> widget pixels (n,2) (logical) and NDC depth (n,)."""
        m = self._mvp()
        out, depth = [], []
        for p in camera_to_view(np.asarray(points, dtype=np.float64).reshape(-1, 3)):
            v = m.map(QVector4D(float(p[0]), float(p[1]), float(p[2]), 1.0))
            ndc = np.array([v.x(), v.y(), v.z()]) / v.w()
            out.append([(ndc[0] + 1) / 2 * self.width(), (1 - ndc[1]) / 2 * self.height()])
            depth.append(ndc[2])
        return np.array(out).reshape(-1, 2), np.array(depth)

    def unproject_from_widget(self, xy: tuple[float, float], ndc_depth: float) -> np.ndarray:
        """Widget pixel + NDC depth -> camera-space point: the inverse of `project_to_widget`."""
        inv, _ = self._mvp().inverted()
        ndc = QVector4D(2 * xy[0] / self.width() - 1, 1 - 2 * xy[1] / self.height(), ndc_depth, 1.0)
        v = inv.map(ndc)
        return view_to_camera(np.array([v.x(), v.y(), v.z()]) / v.w())

    def joint_at(self, xy: tuple[float, float]) -> int | None:
        if len(self.keypoints) == 0:
            return None
        screen, _ = self.project_to_widget(self.keypoints)
        d = np.hypot(screen[:, 0] - xy[0], screen[:, 1] - xy[1])
        j = int(np.argmin(d))
        return j if d[j] <= PICK_RADIUS_PX else None

    def mousePressEvent(self, ev) -> None:
        pos = ev.position()
        if ev.button() == Qt.MouseButton.LeftButton and not ev.modifiers():
            joint = self.joint_at((pos.x(), pos.y()))
            if joint is not None:
                self._drag = joint
                _, depth = self.project_to_widget(self.keypoints[joint])
                self._drag_depth = float(depth[0])
                self._drag_point = self.keypoints[joint].copy()
                self.jointPicked.emit(joint)
                ev.accept()
                return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev) -> None:
        if self._drag is not None:
            pos = ev.position()
            self._drag_point = self.unproject_from_widget((pos.x(), pos.y()), self._drag_depth)
            kp = self.keypoints.copy()
            kp[self._drag] = self._drag_point
            self.skeleton.setData(pos=camera_to_view(kp)[_BONES])
            self.selected.setData(pos=camera_to_view(self._drag_point)[None])
            self.selected.setVisible(True)
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev) -> None:
        if self._drag is not None:
            joint, self._drag = self._drag, None
            if self._drag_point is not None and not np.allclose(self._drag_point, self.keypoints[joint]):
                self.jointDragged.emit(joint, self._drag_point.copy())
            ev.accept()
            return
        super().mouseReleaseEvent(ev)

    def frame_points(self, points: np.ndarray) -> None:
        """Aim the orbit camera at the points, three-quarters from the video camera's side (the
        video camera's frustum then sits off to one side instead of filling the view)."""
        from PySide6.QtGui import QVector3D

        centre = points.reshape(-1, 3).mean(axis=0)
        radius = float(np.ptp(points.reshape(-1, 3), axis=0).max())
        self.grid.translate(float(centre[0]), float(centre[1]), float(points[..., 2].min()) - 0.01)
        self.setCameraPosition(
            pos=QVector3D(*map(float, centre)), distance=3.2 * radius, elevation=18, azimuth=-62
        )
        self._framed = True
