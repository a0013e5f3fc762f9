"""The 3D viewport: a shaded hand mesh and its skeleton in an orbitable OpenGL view."""

from __future__ import annotations

import numpy as np
import pyqtgraph.opengl as gl
from pyqtgraph.opengl import shaders
from PySide6.QtCore import QCoreApplication, Qt
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


class HandViewport(gl.GLViewWidget):
    """Shows one posed hand; `set_frame` swaps in new vertices and keypoints."""

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
        self._faces: np.ndarray | None = None
        self._framed = False

    def set_frame(self, vertices: np.ndarray, keypoints: np.ndarray, faces: np.ndarray) -> None:
        verts = camera_to_view(vertices)
        kps = camera_to_view(keypoints)
        self.mesh.setMeshData(vertexes=verts, faces=faces, smooth=True)
        self.skeleton.setData(pos=kps[_BONES])
        self.mesh.setVisible(True)
        self.skeleton.setVisible(True)
        if not self._framed:
            self.frame_points(verts)

    def frame_points(self, points: np.ndarray) -> None:
        """Aim the orbit camera at the points from the video camera's side."""
        from PySide6.QtGui import QVector3D

        centre = points.reshape(-1, 3).mean(axis=0)
        radius = float(np.ptp(points.reshape(-1, 3), axis=0).max())
        self.grid.translate(float(centre[0]), float(centre[1]), float(points[..., 2].min()) - 0.01)
        self.setCameraPosition(
            pos=QVector3D(*map(float, centre)), distance=2.6 * radius, elevation=12, azimuth=-90
        )
        self._framed = True
