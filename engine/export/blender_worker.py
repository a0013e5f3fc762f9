"""Runs inside Blender's own Python (never imported by the application): builds and exports FBX,
or re-imports an FBX / glTF / BVH file and samples it, as a user's Blender would see it.

    <blender python> -I blender_worker.py export JOB.json
    <blender python> -I blender_worker.py inspect JOB.json

It imports nothing from the project (the Blender environment has bpy and numpy<2 only) and talks
through files: JOB.json names an .npz of arrays and the output path. Each call is a fresh process,
so Blender's global scene state never outlives one job.

Axes: the job's arrays are in the export convention (y up, x right, z towards the viewer, metres);
Blender is z up, so points map by B = Rx(+90 degrees): (x, y, z) -> (x, -z, y). Blender's FBX
writer maps back to y up (axis_up='Y', axis_forward='-Z'), and its importers do the reverse.
"""

from __future__ import annotations

import json
import sys

import numpy as np

TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def _quat_wxyz(m: np.ndarray) -> np.ndarray:
    """(N,3,3) rotation matrices -> (N,4) unit quaternions w,x,y,z (Shepperd's method)."""
    n = m.shape[0]
    q = np.zeros((n, 4))
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    cases = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1).argmax(axis=1)
    for i in range(n):
        r = m[i]
        c = cases[i]
        if c == 0:
            s = 2.0 * np.sqrt(1.0 + tr[i])
            q[i] = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
        elif c == 1:
            s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
            q[i] = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
        elif c == 2:
            s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
            q[i] = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
        else:
            s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
            q[i] = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
    # Keep consecutive keys in one hemisphere so interpolation takes the short way round.
    for i in range(1, n):
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] = -q[i]
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def _set_scene_fps(scene, fps: float) -> None:
    scene.render.fps = max(1, round(fps))
    scene.render.fps_base = scene.render.fps / fps


def _build_hand(bpy, scene, arrays, h: int, names: list[str], side: str) -> None:
    p = f"h{h}_"
    rest = arrays[p + "rest_joints"] @ TO_BLENDER.T
    tips = arrays[p + "rest_tips"] @ TO_BLENDER.T
    parents = [int(x) for x in arrays[p + "parents"]]
    distal = [int(x) for x in arrays["distal_joints"]]
    verts = arrays[p + "rest_vertices"] @ TO_BLENDER.T
    faces = arrays[p + "faces"]
    weights = arrays[p + "weights"]
    rotations = TO_BLENDER @ arrays[p + "rotations"] @ TO_BLENDER.T  # (T,16,3,3)
    root = arrays[p + "root_positions"] @ TO_BLENDER.T
    frames = rotations.shape[0]
    label = names[0]

    arm_data = bpy.data.armatures.new(f"{label}Armature")
    arm = bpy.data.objects.new(f"{label}Armature", arm_data)
    scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    bones = []
    for j, name in enumerate(names):
        bone = arm_data.edit_bones.new(name)
        bone.head = rest[j].tolist()
        children = [c for c, q in enumerate(parents) if q == j]
        if j == 0:
            tail = rest[4] if 4 in children else rest[children[0]]  # the wrist points along the middle finger
        elif children:
            tail = rest[children[0]]
        else:
            tail = tips[distal.index(j)]
        bone.tail = tail.tolist()
        bone.roll = 0.0
        if parents[j] >= 0:
            bone.parent = bones[parents[j]]
        bones.append(bone)
    bpy.ops.object.mode_set(mode="OBJECT")

    mesh = bpy.data.meshes.new(f"{label}Mesh")
    mesh.from_pydata(verts.tolist(), [], faces.tolist())
    mesh.update()
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    obj = bpy.data.objects.new(f"{label}Mesh", mesh)
    scene.collection.objects.link(obj)
    obj.parent = arm
    groups = [obj.vertex_groups.new(name=n) for n in names]
    for j, group in enumerate(groups):
        idx = np.nonzero(weights[:, j] > 0)[0]
        for w in np.unique(weights[idx, j]):
            group.add(idx[weights[idx, j] == w].tolist(), float(w), "REPLACE")
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    mod.use_vertex_groups = True

    # Bone rest frames (armature space) as Blender built them from head, tail and roll: the pose
    # basis of a bone whose parent-relative local rotation is R (world-aligned frames) is Q^T R Q.
    q_rest = np.array([np.array(b.matrix_local)[:3, :3] for b in arm_data.bones])
    basis = np.einsum("jba,tjbc,jcd->tjad", q_rest, rotations, q_rest)
    root_loc = (root - rest[0]) @ q_rest[0]  # Q0^T (p - J0) for each frame
    action = bpy.data.actions.new(f"{label}Action")
    arm.animation_data_create()
    arm.animation_data.action = action
    keyframes = np.arange(frames, dtype=np.float64)

    def curve(path: str, index: int, values: np.ndarray) -> None:
        fc = action.fcurve_ensure_for_datablock(arm, path, index=index)
        fc.keyframe_points.add(frames)
        fc.keyframe_points.foreach_set("co", np.stack([keyframes, values], axis=1).ravel().tolist())
        fc.keyframe_points.foreach_set("interpolation", [1] * frames)  # LINEAR
        fc.update()

    for j, name in enumerate(names):
        pb = arm.pose.bones[name]
        pb.rotation_mode = "QUATERNION"
        quats = _quat_wxyz(basis[:, j])
        for k in range(4):
            curve(f'pose.bones["{name}"].rotation_quaternion', k, quats[:, k])
    for k in range(3):
        curve(f'pose.bones["{names[0]}"].location', k, root_loc[:, k])


def _progress(fraction: float, label: str) -> None:
    """A line the application reads as the export's progress (engine/export/fbx.py)."""
    print(f"UNIHAND-PROGRESS {fraction:.3f} {label}", flush=True)


def export_fbx(job: dict) -> None:
    import bpy

    _progress(0.1, "Blender started")
    arrays = dict(np.load(job["arrays"], allow_pickle=False))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    # Metres in the scene; the FBX then says centimetres (FBX's own unit, UnitScaleFactor 1) with
    # values scaled to match, which Maya, Unity and Blender all read at the right size.
    scene.unit_settings.system = "METRIC"
    scene.unit_settings.scale_length = 1.0
    _set_scene_fps(scene, job["fps"])
    scene.frame_start = 0
    scene.frame_end = max(job["frames"]) - 1
    for h, hand in enumerate(job["hands"]):
        _build_hand(bpy, scene, arrays, h, hand["names"], hand["side"])
        _progress(0.1 + 0.5 * (h + 1) / len(job["hands"]), f"built the {hand['side']} hand")
    scene.frame_set(0)
    _progress(0.6, "writing the FBX")
    bpy.ops.export_scene.fbx(
        filepath=job["output"],
        check_existing=False,
        use_selection=False,
        object_types={"ARMATURE", "MESH"},
        apply_unit_scale=True,
        apply_scale_options="FBX_SCALE_UNITS",
        axis_forward="-Z",
        axis_up="Y",
        use_mesh_modifiers=False,  # the armature deforms at run time; never bake it into the mesh
        mesh_smooth_type="FACE",
        add_leaf_bones=False,  # exactly the 16 documented bones
        primary_bone_axis="Y",
        secondary_bone_axis="X",
        armature_nodetype="NULL",
        use_armature_deform_only=False,
        bake_anim=True,
        bake_anim_use_all_bones=True,
        bake_anim_use_nla_strips=False,
        bake_anim_use_all_actions=False,
        bake_anim_force_startend_keying=True,
        bake_anim_step=1.0,
        bake_anim_simplify_factor=0.0,  # keep every key: simplification moves joints by millimetres
        path_mode="AUTO",
        embed_textures=False,
    )


def inspect(job: dict) -> None:
    """Import a file as a user would and write what Blender sees: bones, keyed frames, positions."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    _set_scene_fps(scene, job["fps"])  # the glTF importer turns seconds into frames at this rate
    path = job["input"]
    kind = path.rsplit(".", 1)[-1].lower()
    if kind == "fbx":
        bpy.ops.import_scene.fbx(filepath=path, anim_offset=0.0, automatic_bone_orientation=False)
    elif kind in ("glb", "gltf"):
        bpy.ops.import_scene.gltf(filepath=path)
    elif kind == "bvh":
        bpy.ops.import_anim.bvh(
            filepath=path, global_scale=1.0, frame_start=0, use_fps_scale=False,
            update_scene_fps=True, update_scene_duration=True, rotate_mode="NATIVE",
            axis_forward="-Z", axis_up="Y",
        )  # fmt: skip
    else:
        raise SystemExit(f"cannot inspect {path}")
    from_blender = TO_BLENDER.T
    report: dict = {"fps": scene.render.fps / scene.render.fps_base, "armatures": [], "meshes": []}
    if kind == "fbx":
        report["fbx_settings"] = _fbx_global_settings(bpy, path)
    out: dict[str, np.ndarray] = {}
    armatures = [o for o in scene.objects if o.type == "ARMATURE"]
    meshes = [o for o in scene.objects if o.type == "MESH"]
    keyed: set[float] = set()
    for arm in armatures:
        action = arm.animation_data.action if arm.animation_data else None
        if action is not None:
            # Layered actions (Blender 4.4+): the curves live in the slot's channelbag.
            for layer in action.layers:
                for strip in layer.strips:
                    for bag in strip.channelbags:
                        for fc in bag.fcurves:
                            keyed.update(round(k.co[0], 6) for k in fc.keyframe_points)
    frames = sorted(keyed) if keyed else [float(scene.frame_current)]
    report["keyed_frames"] = [frames[0], frames[-1], len(frames)]
    sample = [int(f) for f in frames][: job.get("max_frames") or None]
    report["sampled_frames"] = sample
    for a, arm in enumerate(armatures):
        bones = arm.data.bones
        report["armatures"].append(
            {
                "name": arm.name,
                "bones": [b.name for b in bones],
                "parents": [b.parent.name if b.parent else None for b in bones],
            }
        )
        out[f"arm{a}_heads"] = np.zeros((len(sample), len(bones), 3))
    for m, obj in enumerate(meshes):
        report["meshes"].append({"name": obj.name, "vertices": len(obj.data.vertices)})
        out[f"mesh{m}_vertices"] = np.zeros((len(sample), len(obj.data.vertices), 3))
    depsgraph = bpy.context.evaluated_depsgraph_get()
    for i, frame in enumerate(sample):
        scene.frame_set(frame)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        for a, arm in enumerate(armatures):
            world = np.array(arm.matrix_world)
            heads = np.array([list(pb.head) for pb in arm.pose.bones])
            names = [pb.name for pb in arm.pose.bones]
            order = [names.index(b.name) for b in arm.data.bones]
            heads = heads[order] @ world[:3, :3].T + world[:3, 3]
            out[f"arm{a}_heads"][i] = heads @ from_blender.T
        for m, obj in enumerate(meshes):
            ev = obj.evaluated_get(depsgraph)
            me = ev.to_mesh()
            co = np.zeros(len(me.vertices) * 3)
            me.vertices.foreach_get("co", co)
            world = np.array(ev.matrix_world)
            co = co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]
            out[f"mesh{m}_vertices"][i] = co @ from_blender.T
            ev.to_mesh_clear()
    if job.get("render") and meshes:
        _render(bpy, scene, job["render"], sample[len(sample) // 2])
    np.savez(job["output"], **out)
    with open(job["report"], "w") as fh:
        json.dump(report, fh)


def _fbx_global_settings(bpy, path: str) -> dict:
    """Axis and unit settings as other applications (Maya, Unity) read them from the file."""
    sys.path.insert(0, bpy.utils.system_resource("SCRIPTS") + "/addons_core")
    from io_scene_fbx import parse_fbx

    root, _ = parse_fbx.parse(path)
    wanted = {"UnitScaleFactor", "UpAxis", "UpAxisSign", "FrontAxis", "FrontAxisSign", "CoordAxis"}
    settings = {}
    for elem in root.elems:
        if elem.id == b"GlobalSettings":
            for props in (e for e in elem.elems if e.id == b"Properties70"):
                for p in props.elems:
                    name = p.props[0].decode()
                    if name in wanted:
                        settings[name] = p.props[-1]
    return settings


def _render(bpy, scene, path: str, frame: int) -> None:
    """A quick Workbench picture of one frame, camera looking at the hands from the front."""
    scene.frame_set(frame)
    meshes = [o for o in scene.objects if o.type == "MESH" and o.find_armature() is not None]
    depsgraph = bpy.context.evaluated_depsgraph_get()
    pts = []
    for obj in meshes:
        ev = obj.evaluated_get(depsgraph)
        me = ev.to_mesh()
        co = np.zeros(len(me.vertices) * 3)
        me.vertices.foreach_get("co", co)
        world = np.array(ev.matrix_world)
        pts.append(co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3])
        ev.to_mesh_clear()
    pts = np.concatenate(pts)
    centre = (pts.min(0) + pts.max(0)) / 2
    size = float(np.ptp(pts, axis=0).max())
    cam_data = bpy.data.cameras.new("cam")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = size * 1.3
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    cam.location = (centre[0], centre[1] - 1.0, centre[2])  # in front (-y), looking along +y
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
    scene.camera = cam
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x = 640
    scene.render.resolution_y = 640
    scene.display.shading.light = "STUDIO"
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)


def main() -> None:
    mode, job_path = sys.argv[1], sys.argv[2]
    with open(job_path) as fh:
        job = json.load(fh)
    if mode == "export":
        export_fbx(job)
    elif mode == "inspect":
        inspect(job)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
