"""Optional packages (moved to :mod:`rnnkit.extras`, which every floor may use); re-exported."""

from __future__ import annotations

from ..extras import MissingExtraError, import_extra

__all__ = ["MissingExtraError", "import_extra"]
