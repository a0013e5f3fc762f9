"""Export hand motion to FBX, glTF/GLB, BVH and NPZ (docs/export.md).

Names resolve on first use, so importing this package costs nothing until an export runs (the GUI
imports it at start-up; torch, pygltflib and scipy load only when needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.export.api import FORMATS, ExportError, ExportResult, export_motion, export_motions

_LAZY = {
    "FORMATS": "engine.export.api",
    "ExportError": "engine.export.atomic",
    "ExportResult": "engine.export.api",
    "export_motion": "engine.export.api",
    "export_motions": "engine.export.api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FORMATS", "ExportError", "ExportResult", "export_motion", "export_motions"]
