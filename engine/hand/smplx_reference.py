"""smplx's MANO layer built from any of our MANO-format models: the reference our LBS is tested
against (within 1e-6 m) and benchmarked against."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch

from engine.hand.model_file import HandModelData
from engine.hand.skeleton import MANO_PARENTS

_NO_PARENT = 4294967295  # MANO pickles mark the root's parent with uint32 -1


def smplx_mano_layer(data: HandModelData, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    """smplx.MANO over `data` (axis-angle pose, flat-hand zero, no PCA), no file on disk needed."""
    from smplx.body_models import MANO
    from smplx.utils import Struct

    parents = np.where(np.asarray(MANO_PARENTS) < 0, _NO_PARENT, MANO_PARENTS)
    struct = Struct(
        v_template=data.v_template,
        f=data.faces,
        weights=data.weights,
        J_regressor=data.j_regressor,
        kintree_table=np.stack([parents, np.arange(len(MANO_PARENTS))]),
        shapedirs=data.shapedirs,
        posedirs=data.posedirs,
        hands_components=data.hands_components,
        hands_mean=data.hands_mean,
    )
    # smplx prints a note about the number of shape coefficients to stdout, which would corrupt
    # `main.py bench --json`.
    with contextlib.redirect_stdout(io.StringIO()):
        return MANO(
            model_path="",
            data_struct=struct,
            is_rhand=data.side == "right",
            use_pca=False,
            flat_hand_mean=True,
            num_betas=data.num_betas,
            dtype=dtype,
        )
