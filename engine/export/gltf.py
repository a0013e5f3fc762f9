"""glTF 2.0 binary (GLB) export through pygltflib: skinned mesh, 16-joint skin, keyframes.

Layout per hand (docs/export.md): joint nodes named as in `rig.bone_names`, the wrist the child
of an untransformed node "<Side>HandArmature", static transforms the bind pose; a mesh node
"<Side>HandMesh" at the scene root with the skin; one animation "UniHand" with a rotation channel
per joint and a translation channel on the wrist, keyed at frame / fps seconds with LINEAR
interpolation. Values are float32 (glTF has no doubles): about 1e-7 relative, far inside the
0.1 mm the round-trip tests demand.

`sample_glb` reads such a file back (node animation + skinning, as any glTF viewer does) and
`validate_glb` runs the Khronos validator; both serve the round-trip tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engine.export.rig import HandRig
from engine.export.tools import ToolMissingError, gltf_validator_dir

GENERATOR = "UniHand Studio"
ANIMATION_NAME = "UniHand"


class _Blob:
    """Accumulates buffer views and accessors in one binary buffer (4-byte aligned)."""

    def __init__(self) -> None:
        import pygltflib as gl

        self.gl = gl
        self.data = bytearray()
        self.views: list = []
        self.accessors: list = []

    def add(
        self,
        array: np.ndarray,
        accessor_type: str,
        target: int | None = None,
        min_max: bool = False,
        normalized: bool = False,
    ) -> int:
        gl = self.gl
        component = {
            np.dtype(np.float32): gl.FLOAT,
            np.dtype(np.uint8): gl.UNSIGNED_BYTE,
            np.dtype(np.uint16): gl.UNSIGNED_SHORT,
            np.dtype(np.uint32): gl.UNSIGNED_INT,
        }[array.dtype]
        array = np.ascontiguousarray(array)
        self.data.extend(b"\0" * (-len(self.data) % 4))
        self.views.append(
            gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=array.nbytes, target=target)
        )
        self.data.extend(array.tobytes())
        count = array.shape[0]
        flat = array.reshape(count, -1)
        self.accessors.append(
            gl.Accessor(
                bufferView=len(self.views) - 1,
                componentType=component,
                count=count,
                type=accessor_type,
                normalized=normalized or None,
                min=flat.min(axis=0).tolist() if min_max else None,
                max=flat.max(axis=0).tolist() if min_max else None,
            )
        )
        return len(self.accessors) - 1


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # area-weighted
    normals = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    # An unused vertex has no faces; glTF wants unit normals, so give it any unit vector.
    return np.where(length > 0, normals / np.maximum(length, 1e-30), [0.0, 1.0, 0.0])


def _skin_sets(weights: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """JOINTS_n / WEIGHTS_n pairs: every non-zero weight, four per set, sorted largest first."""
    order = np.argsort(-weights, axis=1, kind="stable")
    sorted_w = np.take_along_axis(weights, order, axis=1)
    used = int((sorted_w > 0).sum(axis=1).max())
    num_sets = max(1, -(-used // 4))
    joints = np.where(sorted_w > 0, order, 0)[:, : 4 * num_sets].astype(np.uint8)
    w = sorted_w[:, : 4 * num_sets]
    w = (w / w.sum(axis=1, keepdims=True)).astype(np.float32)
    return [(joints[:, 4 * s : 4 * s + 4], w[:, 4 * s : 4 * s + 4]) for s in range(num_sets)]


def _continuous_quaternions(rotations: np.ndarray) -> np.ndarray:
    """(T,3,3) -> (T,4) xyzw, signs chosen so consecutive keys take the short way round."""
    quats = Rotation.from_matrix(rotations).as_quat()
    flips = np.cumprod(np.where(np.sum(quats[1:] * quats[:-1], axis=1) < 0, -1.0, 1.0))
    quats[1:] *= flips[:, None]
    return quats / np.linalg.norm(quats, axis=1, keepdims=True)


def glb_bytes(rigs: Sequence[HandRig]) -> bytes:
    """The GLB file of one or more hands (one skin and mesh each, one animation)."""
    import pygltflib as gl

    blob = _Blob()
    nodes: list = []
    scene_nodes: list[int] = []
    meshes: list = []
    skins: list = []
    channels: list = []
    samplers: list = []
    for rig in rigs:
        base = len(nodes)
        offsets = rig.offsets
        for j, name in enumerate(rig.names):
            children = [base + c for c, p in enumerate(rig.parents) if p == j]
            nodes.append(gl.Node(name=name, translation=offsets[j].tolist(), children=children or None))
        # An untransformed parent per hand, so importers (Blender's among them) make one armature
        # object per hand, named after it, instead of one armature holding both skeletons.
        nodes.append(gl.Node(name=f"{rig.names[0]}Armature", children=[base]))
        scene_nodes.append(len(nodes) - 1)

        positions = rig.rest_vertices.astype(np.float32)
        attributes = gl.Attributes(
            POSITION=blob.add(positions, gl.VEC3, gl.ARRAY_BUFFER, min_max=True),
            NORMAL=blob.add(
                _vertex_normals(rig.rest_vertices, rig.faces).astype(np.float32), gl.VEC3, gl.ARRAY_BUFFER
            ),
        )
        for s, (joints, weights) in enumerate(_skin_sets(rig.weights)):
            setattr(attributes, f"JOINTS_{s}", blob.add(joints, gl.VEC4, gl.ARRAY_BUFFER))
            setattr(attributes, f"WEIGHTS_{s}", blob.add(weights, gl.VEC4, gl.ARRAY_BUFFER))
        index_type = np.uint16 if len(positions) < 65535 else np.uint32
        indices = blob.add(
            rig.faces.reshape(-1).astype(index_type), gl.SCALAR, gl.ELEMENT_ARRAY_BUFFER, min_max=True
        )
        meshes.append(
            gl.Mesh(
                name=f"{rig.names[0]}Mesh",
                primitives=[gl.Primitive(attributes=attributes, indices=indices, mode=gl.TRIANGLES)],
            )
        )
        # glTF matrices are column-major: transpose each 4x4 before flattening.
        ibm = rig.inverse_bind_matrices().transpose(0, 2, 1).astype(np.float32)
        skins.append(
            gl.Skin(
                name=f"{rig.names[0]}Skin",
                joints=list(range(base, base + len(rig.names))),
                skeleton=base,
                inverseBindMatrices=blob.add(ibm, gl.MAT4),
            )
        )
        nodes.append(gl.Node(name=f"{rig.names[0]}Mesh", mesh=len(meshes) - 1, skin=len(skins) - 1))
        scene_nodes.append(len(nodes) - 1)

        times = (np.arange(rig.num_frames) / rig.fps).astype(np.float32)
        time_accessor = blob.add(times, gl.SCALAR, min_max=True)

        def add_channel(
            node: int, path: str, values: np.ndarray, kind: str, times: int = time_accessor
        ) -> None:
            output = blob.add(values.astype(np.float32), kind)
            samplers.append(gl.AnimationSampler(input=times, output=output, interpolation=gl.ANIM_LINEAR))
            target = gl.AnimationChannelTarget(node=node, path=path)
            channels.append(gl.AnimationChannel(sampler=len(samplers) - 1, target=target))

        add_channel(base, "translation", rig.root_positions, gl.VEC3)
        for j in range(len(rig.names)):
            add_channel(base + j, "rotation", _continuous_quaternions(rig.rotations[:, j]), gl.VEC4)

    gltf = gl.GLTF2(
        asset=gl.Asset(
            generator=GENERATOR,
            version="2.0",
            extras={
                "fps": float(rigs[0].fps),
                "frames": [int(r.num_frames) for r in rigs],
                "hands": [r.side for r in rigs],
                "hand_models": [r.hand_model for r in rigs],
                "axes": "y up, x right, z towards the viewer; metres (docs/export.md)",
            },
        ),
        scene=0,
        scenes=[gl.Scene(name="UniHand", nodes=scene_nodes)],
        nodes=nodes,
        meshes=meshes,
        skins=skins,
        animations=[gl.Animation(name=ANIMATION_NAME, channels=channels, samplers=samplers)],
        accessors=blob.accessors,
        bufferViews=blob.views,
        buffers=[gl.Buffer(byteLength=len(blob.data))],
    )
    gltf.set_binary_blob(bytes(blob.data))
    return b"".join(gltf.save_to_bytes())  # pygltflib returns the GLB as a list of chunks


# --------------------------------------------------------------------------- reading back


@dataclass(frozen=True)
class SampledSkin:
    """One skin of a glTF file evaluated at every key time."""

    joint_names: tuple[str, ...]
    joint_parents: tuple[int, ...]  # index into joint_names, -1 for the skeleton root
    times: np.ndarray  # (T,) seconds
    joints: np.ndarray  # (T,J,3) joint world positions
    vertices: np.ndarray  # (T,V,3) skinned vertices
    faces: np.ndarray  # (F,3)


def _accessor(gltf, blob: bytes, index: int) -> np.ndarray:
    import pygltflib as gl

    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = {gl.FLOAT: np.float32, gl.UNSIGNED_BYTE: np.uint8, gl.UNSIGNED_SHORT: np.uint16,
             gl.UNSIGNED_INT: np.uint32}[acc.componentType]  # fmt: skip
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    flat = np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=start)
    return flat.reshape(acc.count, width) if width > 1 else flat


def _trs(translation: np.ndarray, quat_xyzw: np.ndarray) -> np.ndarray:
    out = np.zeros((*translation.shape[:-1], 4, 4))
    out[..., :3, :3] = (
        Rotation.from_quat(quat_xyzw.reshape(-1, 4)).as_matrix().reshape(*quat_xyzw.shape[:-1], 3, 3)
    )
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1.0
    return out


def _depth(parent: list[int], node: int) -> int:
    depth = 0
    while parent[node] >= 0:
        node, depth = parent[node], depth + 1
    return depth


def sample_glb(path: str | os.PathLike[str]) -> list[SampledSkin]:
    """Evaluate every skin of a GLB at its animation's key times (node TRS animation + LBS)."""
    import pygltflib as gl

    gltf = gl.GLTF2.load(str(path))
    blob = gltf.binary_blob()
    anim = gltf.animations[0]
    num_nodes = len(gltf.nodes)
    parent = [-1] * num_nodes
    for i, node in enumerate(gltf.nodes):
        for c in node.children or []:
            parent[c] = i
    results = []
    for skin_index, skin in enumerate(gltf.skins):
        joints = list(skin.joints)
        times = None
        trans: dict[int, np.ndarray] = {}
        rots: dict[int, np.ndarray] = {}
        for ch in anim.channels:
            if ch.target.node not in joints:
                continue
            sampler = anim.samplers[ch.sampler]
            times = _accessor(gltf, blob, sampler.input).astype(np.float64)
            values = _accessor(gltf, blob, sampler.output).astype(np.float64)
            (trans if ch.target.path == "translation" else rots)[ch.target.node] = values
        assert times is not None, "skin without animation"
        # Local transforms (animated where a channel targets the node), composed root first.
        world: dict[int, np.ndarray] = {}
        for n in sorted(joints, key=lambda n: _depth(parent, n)):
            node = gltf.nodes[n]
            t = trans.get(n, np.tile(node.translation or [0.0, 0.0, 0.0], (len(times), 1)))
            r = rots.get(n, np.tile(node.rotation or [0.0, 0.0, 0.0, 1.0], (len(times), 1)))
            local = _trs(np.asarray(t, dtype=np.float64), np.asarray(r, dtype=np.float64))
            world[n] = world[parent[n]] @ local if parent[n] in world else local
        mats = np.stack([world[n] for n in joints], axis=1)  # (T,J,4,4)
        ibm = _accessor(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
        mesh_node = next(n for n in gltf.nodes if n.skin == skin_index)
        prim = gltf.meshes[mesh_node.mesh].primitives[0]
        positions = _accessor(gltf, blob, prim.attributes.POSITION).astype(np.float64)
        weights = np.zeros((len(positions), len(joints)))
        s = 0
        while getattr(prim.attributes, f"JOINTS_{s}", None) is not None:
            jset = _accessor(gltf, blob, getattr(prim.attributes, f"JOINTS_{s}"))
            wset = _accessor(gltf, blob, getattr(prim.attributes, f"WEIGHTS_{s}"))
            np.add.at(weights, (np.arange(len(positions))[:, None], jset.astype(np.int64)), wset)
            s += 1
        skinning = mats @ ibm.astype(np.float64)  # (T,J,4,4)
        blended = np.einsum("vj,tjab->tvab", weights, skinning[:, :, :3, :])
        homogeneous = np.concatenate([positions, np.ones((len(positions), 1))], axis=1)
        vertices = np.einsum("tvab,vb->tva", blended, homogeneous)
        index_of = {n: i for i, n in enumerate(joints)}
        results.append(
            SampledSkin(
                joint_names=tuple(gltf.nodes[n].name for n in joints),
                joint_parents=tuple(index_of.get(parent[n], -1) for n in joints),
                times=times,
                joints=mats[:, :, :3, 3],
                vertices=vertices,
                faces=_accessor(gltf, blob, prim.indices).astype(np.int64).reshape(-1, 3),
            )
        )
    return results


def validate_glb(path: str | os.PathLike[str]) -> dict:
    """The Khronos glTF validator's report (JSON) on a file; needs node and the npm package."""
    modules = gltf_validator_dir()
    node = shutil.which("node")
    if modules is None or node is None:
        raise ToolMissingError(
            "the glTF validator needs node and the npm package gltf-validator; install it with "
            "`python -m engine.export.tools install validator`"
        )
    script = (
        "const fs = require('fs'); const v = require('gltf-validator');"
        "const data = new Uint8Array(fs.readFileSync(process.argv[1]));"
        "v.validateBytes(data, {maxIssues: 200}).then(r => process.stdout.write(JSON.stringify(r)))"
        ".catch(e => { console.error(String(e)); process.exit(2); });"
    )
    env = {**os.environ, "NODE_PATH": str(modules)}
    out = subprocess.run(
        [node, "-e", script, str(Path(path))], capture_output=True, text=True, env=env, timeout=300
    )
    if out.returncode != 0:
        raise RuntimeError(f"gltf-validator failed on {path}: {out.stderr.strip()}")
    return json.loads(out.stdout)
