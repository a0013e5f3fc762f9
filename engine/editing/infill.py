"""Conditioned infilling with the UniHand model: what `main.py infill` and the editor's worker run.

One request (engine/editing/request.py) goes through:

1. Model space: left hands are mirrored in (engine/hand/mirror.py) and other frame rates are mapped
   onto the model's 30 fps timeline (nearest frame for conditions); results go back the same way.
2. Windows: the frames to recompute (the whole clip, or an edit range widened by `margin`) are
   covered by 120-frame windows overlapping by `overlap` frames. Each window is sampled with DDIM
   and per-modality classifier-free guidance; latent frames already known are inpainted: frames of
   the motion being edited outside the edit range (encoded by the motion encoder), and the overlap
   with the window before (its sampled latents), so consecutive windows continue one another.
   Memory is bounded by one window; a 10,000-frame clip is ~110 windows.
3. Refinement (engine/editing/refine.py): pins (kp3d) and drags (kp2d) are met, locked MANO frames
   are restored bit-exact, and the correction blends smoothly into untouched frames.
4. Several samples run as one batch; `joints_std` is their per-frame, per-joint spread.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from engine.data.fitting import estimate_betas
from engine.diffusion.sampler import Inpaint, SamplingCancelled, ddim_sample
from engine.editing.refine import RefineTargets, RefineWeights, refine_motion
from engine.editing.request import (
    CancelFn,
    InfillCancelled,
    InfillRequest,
    InfillResult,
    ProgressFn,
)
from engine.hand import create_hand_model, get_hand_model_data
from engine.hand.mirror import mirror_axis_angle, mirror_pixels, mirror_points, mirror_transl
from engine.model.gap_refiner import GapRefiner, load_gap_refiner
from engine.model.unihand import UniHand
from engine.motion.camera import Camera
from engine.motion.resample import resample_motion
from engine.motion.types import HandMotion

MODEL_FPS = 30.0
PREVIEW_EVERY_S = 0.3  # a long job sends the motion so far (a preview) at most this often
PREVIEW_MAX_SHARE = 0.1  # and previews take at most this share of its time
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "model"
DEFAULT_VAE = ASSETS / "unihand_vae.safetensors"
DEFAULT_DENOISER = ASSETS / "unihand_denoiser.safetensors"
DEFAULT_VISION = ASSETS / "unihand_vision.safetensors"
DEFAULT_GAP = ASSETS / "unihand_gap.safetensors"


@dataclass
class _Track:
    """One request's conditions in model space (right hand, 30 fps), numpy."""

    frames: int
    kp3d: np.ndarray | None
    kp3d_mask: np.ndarray | None
    kp2d: np.ndarray | None
    kp2d_mask: np.ndarray | None
    camera: Camera | None
    mano_pose: np.ndarray | None
    mano_transl: np.ndarray | None
    mano_mask: np.ndarray | None
    betas: np.ndarray
    previous_pose: np.ndarray | None  # (T,48)
    previous_transl: np.ndarray | None
    previous_joints: np.ndarray | None
    vision: np.ndarray | None = None  # (T, V) hand tokens


def _nearest_plan(frames_in: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Index of the input frame nearest to each output frame (same duration)."""
    frames_out = max(1, round(frames_in * fps_out / fps_in))
    times = np.arange(frames_out) / fps_out
    return np.clip(np.round(times * fps_in).astype(int), 0, frames_in - 1)


class DiffusionInfiller:
    """A loaded model kept warm; call it with an `InfillRequest` (thread-safe: one call at a time)."""

    def __init__(
        self,
        model: UniHand,
        hand_model: str = "default",
        device: str | torch.device = "cpu",
        margin: int = 16,
        overlap: int = 30,
        refine: RefineWeights | None = None,
        guided_fraction: float = 0.5,
        perceptron: torch.nn.Module | None = None,
        gap_refiner: GapRefiner | None = None,
    ) -> None:
        self.device = torch.device(device)
        # With a vision checkpoint: the hand perceptron (its denoiser weights are already in `model`).
        self.perceptron = None if perceptron is None else perceptron.to(self.device).eval()
        # The learned correction of the keypoint gap prior (refine.py "keypoints_learned"); small, so
        # it stays on the CPU beside the refinement.
        self.gap_refiner = gap_refiner
        self.model = model.to(self.device).eval()
        self.config = model.config
        self.hand_name = hand_model
        self.margin = margin
        self.overlap = overlap
        self.refine_weights = refine or RefineWeights()
        self.guided_fraction = guided_fraction  # of the DDIM steps that run guidance (sampler.py)
        # Whole-clip generation takes the hand's path across gaps from splines (refine.py); False
        # keeps the model's own path there (benchmarks/gap_model_trajectory.py measures both).
        self.spline_gaps = True
        # float64 for the refinement (sub-millimetre pins), float32 on the device for decoding.
        self.hand = create_hand_model(hand_model, "right", dtype=torch.float64)
        self.hand_fast = create_hand_model(hand_model, "right").to(self.device)
        self.hand_left = get_hand_model_data(hand_model, "left")
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ model space

    def _rest_wrists(self, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.hand.data.rest_joints(betas)[0], self.hand_left.rest_joints(betas)[0]

    def _track(self, request: InfillRequest) -> tuple[_Track, np.ndarray | None]:
        cond = request.conditions
        left = cond.handedness == "left"
        plan = (
            None if abs(cond.fps - MODEL_FPS) < 1e-6 else _nearest_plan(cond.num_frames, cond.fps, MODEL_FPS)
        )

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            return np.array(a if plan is None else a[plan])

        kp3d, kp3d_mask = pick(cond.kp3d), pick(cond.kp3d_mask)
        kp2d, kp2d_mask = pick(cond.kp2d), pick(cond.kp2d_mask)
        mano_pose, mano_transl, mano_mask = pick(cond.mano_pose), pick(cond.mano_transl), pick(cond.mano_mask)
        camera = None
        if kp2d is not None:
            w, h = (int(v) for v in cond.image_size)
            camera = Camera(np.array(cond.K), w, h) if cond.K is not None else Camera.default(w, h)
        previous = request.previous
        if previous is not None and plan is not None:
            previous = resample_motion(previous, MODEL_FPS, len(plan))
        # Shape: given, else measured from the 3D keypoints, else the previous motion's, else mean.
        if cond.mano_betas is not None:
            betas = np.array(cond.mano_betas)
        elif kp3d is not None and kp3d_mask.sum() >= 21:
            kp = mirror_points(kp3d) if left else kp3d
            betas = estimate_betas(self.hand, np.nan_to_num(kp), kp3d_mask)
        elif previous is not None:
            betas = np.array(previous.betas)
        else:
            betas = np.zeros(10)
        right_wrist, left_wrist = self._rest_wrists(betas)
        prev_pose = prev_transl = prev_joints = None
        if previous is not None:
            prev_pose = np.concatenate([previous.global_orient, previous.hand_pose], axis=1)
            prev_transl = np.array(previous.transl)
            prev_joints = np.array(previous.joints)
        if left:
            if kp3d is not None:
                kp3d = mirror_points(kp3d)
            if kp2d is not None:
                kp2d = mirror_pixels(kp2d, float(camera.K[0, 2]))
            if mano_pose is not None:
                mano_pose = mirror_axis_angle(mano_pose)
                mano_transl = mirror_transl(mano_transl, left_wrist, right_wrist)
            if prev_pose is not None:
                prev_pose = mirror_axis_angle(prev_pose)
                prev_transl = mirror_transl(prev_transl, left_wrist, right_wrist)
                prev_joints = mirror_points(prev_joints)
        frames = cond.num_frames if plan is None else len(plan)
        vision = None
        if request.vision is not None:
            if self.perceptron is None:
                raise ValueError(
                    "vision: this model has no vision path (load it with load_infiller(vision=True))"
                )
            vision = pick(np.asarray(request.vision, dtype=np.float32))
        track = _Track(
            frames, kp3d, kp3d_mask, kp2d, kp2d_mask, camera, mano_pose, mano_transl, mano_mask,
            betas, prev_pose, prev_transl, prev_joints, vision,
        )  # fmt: skip
        return track, plan

    def _window_batch(self, track: _Track, start: int, length: int) -> dict[str, torch.Tensor]:
        """The shard-layout tensors of one window [start, start+length), padded to the model window."""
        w = self.config.window
        idx = np.clip(np.arange(start, start + w), 0, track.frames - 1)
        valid = np.arange(w) < length
        out: dict[str, np.ndarray] = {"frame_valid": valid}
        channels = np.array([track.kp2d is not None, track.kp3d is not None, track.mano_pose is not None])
        out["channels"] = channels
        zeros21 = np.zeros((w, 21), dtype=bool)
        if track.kp2d is not None:
            out["kp2d_norm"] = track.camera.normalise_2d(np.nan_to_num(track.kp2d[idx]))
            out["kp2d_mask"] = track.kp2d_mask[idx] & valid[:, None]
            out["K"] = track.camera.K
            out["image_size"] = np.array(track.camera.image_size)
        else:
            out["kp2d_norm"] = np.zeros((w, 21, 2))
            out["kp2d_mask"] = zeros21
            out["K"] = Camera.default(2, 2).K
            out["image_size"] = np.array([2, 2])
        if track.kp3d is not None:
            out["kp3d"] = np.nan_to_num(track.kp3d[idx])
            out["kp3d_mask"] = track.kp3d_mask[idx] & valid[:, None]
        else:
            out["kp3d"] = np.zeros((w, 21, 3))
            out["kp3d_mask"] = zeros21
        if track.mano_pose is not None:
            out["mano_pose"] = np.nan_to_num(track.mano_pose[idx])
            out["mano_transl"] = np.nan_to_num(track.mano_transl[idx])
            out["mano_mask"] = track.mano_mask[idx] & valid
        else:
            out["mano_pose"] = np.zeros((w, 48))
            out["mano_transl"] = np.zeros((w, 3))
            out["mano_mask"] = np.zeros(w, dtype=bool)
        batch = {}
        for k, v in out.items():
            dtype = torch.bool if v.dtype == bool else (torch.int64 if k == "image_size" else torch.float32)
            batch[k] = torch.as_tensor(v, dtype=dtype, device=self.device)[None]
        return batch

    # ------------------------------------------------------------------ the call

    def __call__(
        self,
        request: InfillRequest,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> InfillResult:
        with self._lock, torch.inference_mode():
            started = time.perf_counter()
            try:
                motion, changed = self._run(request, progress, should_cancel)
            except SamplingCancelled as exc:
                raise InfillCancelled("superseded by a newer request") from exc
            return InfillResult(motion, changed, time.perf_counter() - started)

    @staticmethod
    def _hard_2d(request: InfillRequest, plan: np.ndarray | None) -> np.ndarray | None:
        if request.kp2d_hard is None:
            return None
        hard = np.asarray(request.kp2d_hard, dtype=bool)
        return hard if plan is None else hard[plan]

    def _plan_range(
        self, request: InfillRequest, track: _Track, plan: np.ndarray | None
    ) -> tuple[int, int, int, int]:
        """(edit_start, edit_stop, compute_start, compute_stop) in model frames."""
        t = track.frames
        if request.previous is None or request.frames is None:
            return 0, t, 0, t
        s, e = request.frames
        if plan is not None:
            s = int(np.searchsorted(plan, s, side="left"))
            e = max(s + 1, int(np.searchsorted(plan, e - 1, side="right")))
        return s, e, max(0, s - self.margin), min(t, e + self.margin)

    def _windows(self, a: int, b: int) -> list[int]:
        w = self.config.window
        if b - a <= w:
            return [max(0, min(a, b - w))] if b >= w else [0]
        stride = w - self.overlap
        return [*range(a, b - w, stride), b - w]

    def _run(
        self, request: InfillRequest, progress: ProgressFn | None, should_cancel: CancelFn | None
    ) -> tuple[HandMotion, tuple[int, int]]:
        track, plan = self._track(request)
        t, w, s_count = track.frames, self.config.window, request.samples
        es, ee, a, b = self._plan_range(request, track, plan)
        starts = self._windows(a, b)
        seen = np.zeros(t, dtype=bool)
        for mask in (track.kp2d_mask, track.kp3d_mask):
            if mask is not None:
                seen |= mask.any(axis=1)
        editing = track.previous_pose is not None and request.frames is not None
        if editing and seen[es:ee].all() and s_count == 1:
            # Every frame of the edit is observed, so the shown motion is kept there and a new
            # sample would be discarded (below): skip sampling, refine only. Pins and drags, the
            # common edits, take milliseconds instead of a diffusion run.
            starts = []
        pose = np.zeros((s_count, t, 48))
        transl = np.zeros((s_count, t, 3))
        if track.previous_pose is not None:
            pose[:] = track.previous_pose
            transl[:] = track.previous_transl
        done = np.zeros(t, dtype=bool)  # frames written by an earlier window of this request
        latents = torch.zeros(s_count, t, self.config.latent_dim, device=self.device)
        total = len(starts) * request.steps
        step0 = 0
        next_preview = [time.perf_counter() + PREVIEW_EVERY_S]
        editable = np.zeros(t, dtype=bool)
        editable[a:b] = True
        if progress is not None and total:
            progress(0, total, None)  # started
        for wi, start in enumerate(starts):
            length = min(w, t - start)
            batch = self._window_batch(track, start, length)
            cond = self.model.encode_conditions(batch)
            for m in list(cond.latents):
                cond.latents[m] = cond.latents[m].expand(s_count, -1, -1)
                cond.observed[m] = cond.observed[m].expand(s_count, -1)
            if track.vision is not None:
                tokens = track.vision[np.clip(np.arange(start, start + w), 0, t - 1)]
                cond.vision = torch.as_tensor(tokens, device=self.device)[None].expand(s_count, -1, -1)
                cond.vision_observed = batch["frame_valid"].expand(s_count, -1)
            known = torch.zeros(s_count, 1 + w, dtype=torch.bool, device=self.device)
            known_latents = torch.zeros(s_count, 1 + w, self.config.latent_dim, device=self.device)
            frames = np.arange(start, start + w)
            in_clip = frames < t
            if track.previous_pose is not None and request.frames is not None:
                idx = np.clip(frames, 0, t - 1)
                prev = self.model.encode_motion(
                    torch.as_tensor(track.previous_pose[idx], dtype=torch.float32, device=self.device)[None],
                    torch.as_tensor(track.previous_transl[idx], dtype=torch.float32, device=self.device)[
                        None
                    ],
                    batch["frame_valid"],
                )
                keep = torch.as_tensor(in_clip & ((frames < es) | (frames >= ee)), device=self.device)
                known[:, 1:] |= keep
                known_latents[:, 1:] = torch.where(keep[:, None], prev[:, 1:], known_latents[:, 1:])
            # The overlap with the window before is inpainted, except its last `blend` frames: those
            # are sampled anew and crossfaded below. Switching windows exactly where inpainted latents
            # meet sampled ones would show the seam between them (a jump at every window's end).
            written = in_clip & done[np.clip(frames, 0, t - 1)]
            blend = min(int(written.sum()), self.overlap // 2)
            if blend:
                written[np.flatnonzero(written)[-blend:]] = False
            overlap = torch.as_tensor(written, device=self.device)
            if overlap.any():
                idx_t = torch.as_tensor(np.clip(frames, 0, t - 1), device=self.device)
                known[:, 1:] |= overlap
                known_latents[:, 1:] = torch.where(overlap[:, None], latents[:, idx_t], known_latents[:, 1:])
            gen = torch.Generator().manual_seed(int(request.seed) * 100003 + wi)

            sel = np.flatnonzero(in_clip & (frames >= a) & (frames < b))
            tgt = frames[sel]

            def on_step(i: int, n: int, x0: torch.Tensor, base: int = step0, sel=sel, tgt=tgt) -> None:
                if progress is None:
                    return
                now = time.perf_counter()
                if now < next_preview[0] or base + i == total:
                    progress(base + i, total, None)
                    return
                # A long job shows the motion so far (this step's clean estimate, unrefined) a few
                # times a second; the job's last step needs none, its result follows. On a long
                # clip a preview costs more (forward kinematics of every frame), so they thin out
                # to keep their share of the job under PREVIEW_MAX_SHARE.
                p, tr = (v.double().cpu().numpy() for v in self.model.decode(x0))
                pose_now, transl_now = pose[:1].copy(), transl[:1].copy()
                pose_now[:, tgt], transl_now[:, tgt] = p[:1, sel], tr[:1, sel]
                preview = self._to_motion(request, track, plan, pose_now, transl_now, editable)
                cost = time.perf_counter() - now
                next_preview[0] = now + max(PREVIEW_EVERY_S, cost / PREVIEW_MAX_SHARE)
                progress(base + i, total, preview)

            x0 = ddim_sample(
                self.model.denoiser,
                (s_count, 1 + w, self.config.latent_dim),
                cond,
                request.steps,
                guidance=request.guidance,
                generator=gen,
                inpaint=Inpaint(known_latents, known) if known.any() else None,
                progress=on_step,
                should_cancel=should_cancel,
                guided_steps=math.ceil(self.guided_fraction * request.steps),
            )
            step0 += request.steps
            p, tr = self.model.decode(x0)
            p, tr = p.double().cpu().numpy(), tr.double().cpu().numpy()
            # Frames an earlier window wrote keep its motion up to the last `blend`, then crossfade.
            wgt = np.ones(len(sel))
            k = np.flatnonzero(done[tgt])
            if len(k):
                wgt[k] = 0.0
                wgt[k[len(k) - blend :]] = (np.arange(blend) + 1) / (blend + 1)
            pose[:, tgt] = (1 - wgt[:, None]) * pose[:, tgt] + wgt[:, None] * p[:, sel]
            transl[:, tgt] = (1 - wgt[:, None]) * transl[:, tgt] + wgt[:, None] * tr[:, sel]
            latents[:, torch.as_tensor(tgt, device=self.device)] = x0[:, 1 + sel]
            done[tgt] = True
        if editing:
            # An edit keeps the motion shown wherever the frame is observed (the refinement then
            # bends it to the new pins and drags); the new sample is taken only on unobserved frames
            # of the edit range, faded in over a few frames. The shipped model is far better at
            # filling what nobody saw than at re-estimating what is seen (MODEL_CARD.md).
            weight = np.zeros(t)
            weight[es:ee] = ~seen[es:ee]
            weight = np.clip(gaussian_filter1d(weight, 3.0) * 1.5, 0.0, 1.0)
            weight[~editable] = 0.0
            weight[es:ee][~seen[es:ee]] = 1.0
            wgt = weight[None, :, None]
            pose = (1 - wgt) * track.previous_pose[None] + wgt * pose
            transl = (1 - wgt) * track.previous_transl[None] + wgt * transl
        targets = RefineTargets(
            kp3d=track.kp3d, kp3d_mask=track.kp3d_mask, kp2d=track.kp2d, kp2d_mask=track.kp2d_mask,
            kp2d_hard=self._hard_2d(request, plan), K=None if track.camera is None else track.camera.K,
            locked=track.mano_mask, locked_pose=track.mano_pose, locked_transl=track.mano_transl,
        )  # fmt: skip
        with torch.inference_mode(False):
            pose, transl = refine_motion(
                self.hand, pose, transl, track.betas, targets, editable, self.refine_weights,
                interpolate_global=self.spline_gaps and (request.previous is None or request.frames is None),
                follow_evidence=request.previous is None or request.frames is None,
                gap_refiner=self.gap_refiner,
            )  # fmt: skip
        motion = self._to_motion(request, track, plan, pose, transl, editable)
        if plan is None:
            changed = (a, b)
        else:
            changed = (int(plan[a]), min(request.conditions.num_frames, int(plan[b - 1]) + 1))
        return motion, changed

    def _to_motion(
        self,
        request: InfillRequest,
        track: _Track,
        plan: np.ndarray | None,
        pose: np.ndarray,
        transl: np.ndarray,
        editable: np.ndarray,
    ) -> HandMotion:
        cond = request.conditions
        s, t = pose.shape[:2]
        flat_pose = torch.as_tensor(pose.reshape(-1, 48), dtype=torch.float64)
        _, kp = self.hand.forward_keypoints(
            flat_pose[:, 3:], flat_pose[:, :3],
            torch.as_tensor(track.betas, dtype=torch.float64)[None].expand(s * t, -1),
            torch.as_tensor(transl.reshape(-1, 3), dtype=torch.float64),
        )  # fmt: skip
        joints = kp.numpy().reshape(s, t, 21, 3)
        if track.previous_joints is not None:
            # Frames whose parameters did not change keep the shown joints bit for bit.
            same_pose = (pose == track.previous_pose[None]).all(-1)
            same = same_pose & (transl == track.previous_transl[None]).all(-1)
            keep = ~editable[None] | same
            joints = np.where(keep[..., None, None], track.previous_joints[None], joints)
        if cond.handedness == "left":
            right_wrist, left_wrist = self._rest_wrists(track.betas)
            pose = mirror_axis_angle(pose)
            transl = mirror_transl(transl, right_wrist, left_wrist)
            joints = mirror_points(joints)
        samples = joints if s > 1 else None
        std = None
        if samples is not None:
            std = np.sqrt(samples.var(axis=0).sum(-1))
        motion = HandMotion(
            fps=MODEL_FPS,
            handedness=cond.handedness,
            hand_model=self.hand_name,
            global_orient=pose[0, :, :3],
            hand_pose=pose[0, :, 3:],
            transl=transl[0],
            betas=track.betas,
            joints=joints[0],
            joints_samples=samples,
            joints_std=std,
        )
        if plan is not None:
            motion = resample_motion(motion, cond.fps, cond.num_frames)
            if cond.mano_pose is not None and cond.mano_mask.any():
                # Locked frames exactly as given (resampling interpolates).
                m = cond.mano_mask
                go = np.array(motion.global_orient)
                hp = np.array(motion.hand_pose)
                tr = np.array(motion.transl)
                go[m], hp[m], tr[m] = cond.mano_pose[m, :3], cond.mano_pose[m, 3:], cond.mano_transl[m]
                motion = motion.replace(global_orient=go, hand_pose=hp, transl=tr)
        if request.previous is not None and request.frames is not None:
            # Untouched frames are the previous motion's, bit for bit.
            prev = request.previous
            lo, hi = self._changed_input_range(request, plan, editable)
            keep = np.ones(cond.num_frames, dtype=bool)
            keep[lo:hi] = False
            fields = {}
            for name in ("global_orient", "hand_pose", "transl", "joints"):
                arr = np.array(getattr(motion, name))
                arr[keep] = getattr(prev, name)[keep]
                fields[name] = arr
            motion = motion.replace(**fields)
        return motion

    @staticmethod
    def _changed_input_range(
        request: InfillRequest, plan: np.ndarray | None, editable: np.ndarray
    ) -> tuple[int, int]:
        idx = np.flatnonzero(editable)
        if plan is None:
            return int(idx[0]), int(idx[-1]) + 1
        return int(plan[idx[0]]), min(request.conditions.num_frames, int(plan[idx[-1]]) + 1)


def default_checkpoints() -> tuple[Path, Path]:
    """The shipped checkpoints, or the ones named by UNIHAND_VAE / UNIHAND_DENOISER."""
    vae = Path(os.environ.get("UNIHAND_VAE", DEFAULT_VAE))
    den = Path(os.environ.get("UNIHAND_DENOISER", DEFAULT_DENOISER))
    return vae, den


_CACHE: dict[tuple[str, ...], DiffusionInfiller] = {}


def default_vision_checkpoint() -> Path:
    """The shipped vision checkpoint (perceptron + its denoiser), or UNIHAND_VISION."""
    return Path(os.environ.get("UNIHAND_VISION", DEFAULT_VISION))


def default_gap_checkpoint() -> Path:
    """The shipped gap refiner, or UNIHAND_GAP."""
    return Path(os.environ.get("UNIHAND_GAP", DEFAULT_GAP))


GAP_OFF = ("none", "off")  # UNIHAND_GAP values that switch the refiner off


def load_gap_refiner_if_present() -> GapRefiner | None:
    """The gap refiner: UNIHAND_GAP's (which must load; "none" or "off": no refiner), else the
    shipped one when it is installed; without one, gaps keep the Gaussian-process prior alone."""
    named = os.environ.get("UNIHAND_GAP")
    if named is not None and named.strip().lower() in GAP_OFF:
        return None
    path = default_gap_checkpoint()
    if named is None and not path.is_file():
        return None
    return load_gap_refiner(path)


def load_infiller(
    device: str | None = None, threads: int | None = None, vision: bool = False
) -> DiffusionInfiller:
    """The shipped model, loaded once per process and kept warm (CUDA when available, else CPU).

    `vision=True`: the vision path too: the hand perceptron and the denoiser fine-tuned with it
    (a separate instance; the editor's model stays the one the editing benchmarks measured).
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if threads:
        torch.set_num_threads(threads)
    vae, den = default_checkpoints()
    key = (str(vae), str(den), str(default_gap_checkpoint()), device)
    key += (str(default_vision_checkpoint()),) if vision else ()
    if key not in _CACHE:
        model = UniHand.load(vae, den)
        perceptron = None
        if vision:
            from engine.model.perceptron import load_vision

            perceptron = load_vision(default_vision_checkpoint(), model)
        _CACHE[key] = DiffusionInfiller(
            model, device=device, perceptron=perceptron, gap_refiner=load_gap_refiner_if_present()
        )
    return _CACHE[key]
