"""How much memory the machine has left, and a one-line refusal before a size would not fit.

Sizes a user (or a checkpoint) chooses decide how much a model allocates: a
hidden size of a million asks for terabytes. Checking the bytes before the
allocation turns NumPy's ``MemoryError`` into a one-line error that says what
was asked and what is available.
"""

from __future__ import annotations

import os


def available_memory() -> int | None:
    """Bytes the system can still give (``MemAvailable`` on Linux), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(nbytes: float) -> str:
    """``1536 -> '1.5 KiB'``, ``3e12 -> '2.7 TiB'``."""
    value = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:,.0f} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} EiB"  # pragma: no cover


def check_allocation(nbytes: int, what: str, hint: str = "") -> None:
    """Raise ``ValueError`` (one line: what, how much, how much is available) if ``nbytes``
    exceeds the memory available; ``hint`` says which sizes to lower."""
    available = available_memory()
    if available is not None and nbytes > available:
        raise ValueError(
            f"{what} needs {format_bytes(nbytes)}, more than the {format_bytes(available)} "
            f"of memory available" + (f"; {hint}" if hint else "")
        )


def check_model_memory(config, dtype, sizes: tuple[str, ...]) -> None:
    """Validate a model ``config`` (``validate()``, ``num_parameters()``) and refuse, in
    one line naming the flags of the option fields ``sizes`` to lower, a model whose
    parameters of ``dtype`` would not fit in the memory available (before any array is
    allocated)."""
    import numpy as np

    config.validate()
    count = config.num_parameters()
    flags = ["--" + name.replace("_", "-") for name in sizes]  # the options' flags, from fields
    check_allocation(
        count * np.dtype(dtype).itemsize,
        f"a model of {count:,} parameters",
        f"choose a smaller {', '.join(flags)}",
    )
