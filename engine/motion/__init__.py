"""Hand motion and conditions: types, camera and canonical space, resampling, file formats.

Rotation conversions (torch) live in `engine.motion.rotations` and are imported from there.
"""

from engine.motion.camera import Camera, canonical_extrinsics, from_canonical, to_canonical
from engine.motion.io import (
    CONDITIONS_FORMAT,
    MOTION_FORMAT,
    file_format,
    load_conditions,
    load_motion,
    save_conditions,
    save_motion,
)
from engine.motion.resample import (
    covering_num_frames,
    resample_conditions,
    resample_motion,
    resample_times,
)
from engine.motion.types import CHANNEL_KEYS, CHANNELS, HANDEDNESS, Conditions, HandMotion

__all__ = [
    "CHANNELS",
    "CHANNEL_KEYS",
    "CONDITIONS_FORMAT",
    "HANDEDNESS",
    "MOTION_FORMAT",
    "Camera",
    "Conditions",
    "HandMotion",
    "canonical_extrinsics",
    "covering_num_frames",
    "file_format",
    "from_canonical",
    "load_conditions",
    "load_motion",
    "resample_conditions",
    "resample_motion",
    "resample_times",
    "save_conditions",
    "save_motion",
    "to_canonical",
]
