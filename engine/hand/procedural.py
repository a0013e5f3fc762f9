"""A fully procedural MANO-format right hand: needs no download, no licence, no data files.

It is the fallback when no other model is available and the fixture for tests. The skeleton
follows adult anthropometric proportions in MANO's rest frame (fingers along -x, thumb side +z,
palm facing -y, see engine/hand/skeleton.py); the skin is lofted tubes with rounded tips around
each finger and a rounded palm. Every joint centre is the mean of a ring of vertices built
exactly around it, so the J_regressor is exact and follows shape changes. Its ten shape
directions are finite differences of the generator's own proportion parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

from engine.hand.model_file import HandModelData
from engine.hand.skeleton import NUM_BETAS, NUM_MANO_JOINTS

RING = 12  # vertices per cross-section
SHAPE_NAMES = (
    "overall_size",
    "palm_width",
    "palm_length",
    "finger_length",
    "thumb_length",
    "index_length",
    "middle_length",
    "ring_length",
    "pinky_length",
    "finger_thickness",
)
# One unit of each shape parameter, relative to the mean (about one adult standard deviation).
_SHAPE_STEP = np.array([0.05, 0.06, 0.05, 0.05, 0.06, 0.04, 0.04, 0.04, 0.05, 0.08])

# Per finger: MANO joint ids (proximal..distal), MCP position (x, z) relative to the wrist,
# splay angle in the palm plane (degrees, towards +z), phalanx lengths (m), radius at base (m).
_FINGERS = {
    "index": ((1, 2, 3), (-0.088, 0.022), 6.0, (0.040, 0.024, 0.020), 0.0092),
    "middle": ((4, 5, 6), (-0.092, 0.001), 0.0, (0.045, 0.028, 0.021), 0.0094),
    "ring": ((10, 11, 12), (-0.087, -0.018), -6.0, (0.042, 0.027, 0.021), 0.0090),
    "pinky": ((7, 8, 9), (-0.077, -0.034), -13.0, (0.033, 0.019, 0.019), 0.0080),
}
_THUMB_JOINTS = (13, 14, 15)
_THUMB_CMC = np.array([-0.022, -0.010, 0.022])
_THUMB_DIR = np.array([-0.62, -0.30, 0.72])
_THUMB_LENGTHS = (0.042, 0.032, 0.028)
_THUMB_RADIUS = 0.0105
_PALM_NORMAL = np.array([0.0, -1.0, 0.0])
_TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")


@dataclass
class _Builder:
    vertices: list[np.ndarray]
    faces: list[np.ndarray]
    weights: list[np.ndarray]
    regressor_rings: dict[int, np.ndarray]
    tips: dict[str, int]

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.vertices)

    def ring(self, centre: np.ndarray, axis: np.ndarray, up: np.ndarray, rw: float, rh: float) -> np.ndarray:
        side = np.cross(axis, up)
        side /= np.linalg.norm(side)
        up = np.cross(side, axis)
        theta = np.linspace(0.0, 2.0 * np.pi, RING, endpoint=False)
        return centre + rw * np.cos(theta)[:, None] * side + rh * np.sin(theta)[:, None] * up

    def add(self, verts: np.ndarray, weights: np.ndarray) -> np.ndarray:
        start = self.count
        self.vertices.append(verts)
        self.weights.append(weights)
        return np.arange(start, start + len(verts))


def _one_hot(joint: int) -> np.ndarray:
    w = np.zeros(NUM_MANO_JOINTS)
    w[joint] = 1.0
    return w


def _connect(b: _Builder, a: np.ndarray, c: np.ndarray) -> None:
    """Quad strip between two consecutive rings (indices a, c), wound outwards."""
    n = len(a)
    for i in range(n):
        j = (i + 1) % n
        b.faces.append(np.array([[a[i], c[i], c[j]], [a[i], c[j], a[j]]]))


def _tube(
    b: _Builder, joints: list[np.ndarray], joint_ids: tuple[int, ...], parent: int, radius: float, name: str
) -> None:
    """Loft a finger along joints[0..3] (3 segments), rounded cap at the end."""
    stations: list[tuple[np.ndarray, np.ndarray, float, np.ndarray]] = []
    blend = 0.35  # fraction of a segment over which skinning blends across a joint
    total = sum(np.linalg.norm(joints[i + 1] - joints[i]) for i in range(3))
    travelled = 0.0
    for seg in range(3):
        p0, p1 = joints[seg], joints[seg + 1]
        axis = (p1 - p0) / np.linalg.norm(p1 - p0)
        length = np.linalg.norm(p1 - p0)
        for k, t in enumerate((0.0, 0.25, 0.5, 0.75)):
            if seg == 2 and t > 0.5:
                break
            owner, prev = joint_ids[seg], (joint_ids[seg - 1] if seg else parent)
            w = _one_hot(owner)
            if t < blend / 2 and seg >= 0:
                mix = 0.5 + t / blend
                w = mix * _one_hot(owner) + (1 - mix) * _one_hot(prev)
            if t > 1 - blend / 2 and seg < 2:
                mix = 0.5 + (1 - t) / blend
                w = mix * _one_hot(owner) + (1 - mix) * _one_hot(joint_ids[seg + 1])
            r = radius * (1.0 - 0.22 * (travelled + t * length) / total)
            stations.append((p0 + t * (p1 - p0), axis, r, w))
            if k == 0:
                stations[-1] = (*stations[-1][:3], w)
        travelled += length
    rings = []
    for idx, (centre, axis, r, w) in enumerate(stations):
        ring = b.ring(centre, axis, _PALM_NORMAL, r, 0.85 * r)
        ids = b.add(ring, np.tile(w, (RING, 1)))
        rings.append(ids)
        # Rings at station 0, 4 and 8 sit exactly on the joints: their mean is the joint centre.
        if idx in (0, 4, 8):
            b.regressor_rings[joint_ids[idx // 4]] = ids
    # Rounded cap: two shrinking rings, then the tip vertex.
    last_axis = stations[-1][1]
    end = joints[3]
    r_end = stations[-1][2]
    w_end = _one_hot(joint_ids[2])
    for frac in (0.7, 0.4):
        centre = end - last_axis * r_end * (1 - np.sqrt(1 - frac**2)) - last_axis * 0.2 * r_end
        ring = b.ring(centre + last_axis * 0.0, last_axis, _PALM_NORMAL, r_end * frac, 0.85 * r_end * frac)
        rings.append(b.add(ring, np.tile(w_end, (RING, 1))))
    tip = b.add(end[None], w_end[None])[0]
    b.tips[name] = int(tip)
    for a, c in pairwise(rings):
        _connect(b, a, c)
    last = rings[-1]
    for i in range(RING):
        b.faces.append(np.array([[last[i], tip, last[(i + 1) % RING]]]))


def _skeleton(params: np.ndarray) -> tuple[np.ndarray, dict[str, list[np.ndarray]]]:
    """Joint positions (16,3) and per-finger joint chains (incl. tip) for shape `params` (10,)."""
    p = 1.0 + params * _SHAPE_STEP
    scale, palm_w, palm_l, finger_l, thumb_l = p[:5]
    per_finger = dict(zip(("index", "middle", "ring", "pinky"), p[5:9], strict=True))
    joints = np.zeros((NUM_MANO_JOINTS, 3))
    chains: dict[str, list[np.ndarray]] = {}
    for name, (ids, (mx, mz), splay, lengths, _r) in _FINGERS.items():
        mcp = np.array([mx * palm_l, 0.0, mz * palm_w])
        direction = np.array([-np.cos(np.radians(splay)), 0.0, np.sin(np.radians(splay))])
        chain = [mcp]
        for seg_len in lengths:
            chain.append(chain[-1] + direction * seg_len * finger_l * per_finger[name])
        chains[name] = [scale * c for c in chain]
        for jid, pos in zip(ids, chains[name][:3], strict=True):
            joints[jid] = pos
    thumb_dir = _THUMB_DIR / np.linalg.norm(_THUMB_DIR)
    chain = [_THUMB_CMC * np.array([palm_l, 1.0, palm_w])]
    for seg_len in _THUMB_LENGTHS:
        chain.append(chain[-1] + thumb_dir * seg_len * thumb_l)
    chains["thumb"] = [scale * c for c in chain]
    for jid, pos in zip(_THUMB_JOINTS, chains["thumb"][:3], strict=True):
        joints[jid] = pos
    return joints, chains


def _palm(b: _Builder, params: np.ndarray, joints: np.ndarray) -> None:
    """Rounded palm from the wrist (open end, like MANO) to just past the knuckles (capped)."""
    p = 1.0 + params * _SHAPE_STEP
    scale, palm_w = p[0], p[1]
    mcp_ids = (1, 4, 10, 7)
    knuckle_x = joints[list(mcp_ids), 0].mean()
    z_hi, z_lo = joints[1, 2] + 0.010 * scale, joints[7, 2] - 0.010 * scale
    rings = []
    stations = np.linspace(0.0, 1.0, 7)
    for s in stations:
        x = s * (knuckle_x - 0.004 * scale)
        half_w = (0.027 + 0.011 * s) * scale * palm_w if s < 1 else (z_hi - z_lo) / 2
        z_c = (0.0 + s * (z_hi + z_lo) / 2) if s < 1 else (z_hi + z_lo) / 2
        half_h = (0.017 - 0.004 * s) * scale
        theta = np.linspace(0.0, 2.0 * np.pi, RING, endpoint=False)
        # Superellipse cross-section in the y-z plane: flat back and palm, rounded sides.
        c, sn = np.cos(theta), np.sin(theta)
        zz = z_c + half_w * np.sign(c) * np.abs(c) ** 0.6
        yy = half_h * np.sign(sn) * np.abs(sn) ** 0.6
        ring = np.stack([np.full(RING, x), yy, zz], axis=1)
        weights = np.zeros((RING, NUM_MANO_JOINTS))
        weights[:, 0] = 1.0
        if s > 0.8:  # the knuckle end follows the nearest finger's MCP a little
            for v in range(RING):
                nearest = mcp_ids[int(np.argmin(np.abs(joints[list(mcp_ids), 2] - zz[v])))]
                share = 0.35 * (s - 0.8) / 0.2
                weights[v, 0] = 1 - share
                weights[v, nearest] = share
        rings.append(b.add(ring, weights))
    b.regressor_rings[0] = rings[0]
    for a, c in pairwise(rings):
        # Palm rings run counter-clockwise seen from -x, so connect them the other way round.
        _connect(b, c, a)
    last = rings[-1]
    centre = b.add(b.vertices[-1].mean(axis=0, keepdims=True), np.tile(b.weights[-1].mean(0), (1, 1)))[0]
    for i in range(RING):
        b.faces.append(np.array([[last[i], last[(i + 1) % RING], centre]]))


def _build_mesh(params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    joints, chains = _skeleton(params)
    thickness = 1.0 + params[9] * _SHAPE_STEP[9]
    scale = 1.0 + params[0] * _SHAPE_STEP[0]
    b = _Builder([], [], [], {}, {})
    _palm(b, params, joints)
    for name, (ids, _m, _s, _l, radius) in _FINGERS.items():
        _tube(b, chains[name], ids, 0, radius * thickness * scale, name)
    _tube(b, chains["thumb"], _THUMB_JOINTS, 0, _THUMB_RADIUS * thickness * scale, "thumb")
    verts = np.concatenate(b.vertices)
    weights = np.concatenate(b.weights)
    faces = np.concatenate(b.faces).astype(np.int64)
    regressor = np.zeros((NUM_MANO_JOINTS, len(verts)))
    for jid, ring in b.regressor_rings.items():
        regressor[jid, ring] = 1.0 / len(ring)
    tips = np.array([b.tips[name] for name in _TIP_ORDER], dtype=np.int64)
    return verts, faces, weights, regressor, tips


@lru_cache(maxsize=1)
def build_procedural_hand() -> HandModelData:
    """The procedural right hand (cached; about 0.5k vertices)."""
    zero = np.zeros(NUM_BETAS)
    verts, faces, weights, regressor, tips = _build_mesh(zero)
    shapedirs = np.zeros((len(verts), 3, NUM_BETAS))
    for k in range(NUM_BETAS):
        step = np.zeros(NUM_BETAS)
        step[k] = 0.5
        plus, minus = _build_mesh(step)[0], _build_mesh(-step)[0]
        shapedirs[:, :, k] = plus - minus  # central difference over one unit
    return HandModelData(
        name="procedural",
        side="right",
        v_template=verts,
        faces=faces,
        weights=weights,
        j_regressor=regressor,
        shapedirs=shapedirs,
        posedirs=np.zeros((len(verts), 3, 135)),
        tip_vertex_ids=tips,
        shape_names=SHAPE_NAMES,
        attribution="Generated by UniHand Studio (engine/hand/procedural.py)",
        licence="Apache-2.0 (generated by the project's own code)",
    )
