"""The engine's one random generator: initialisation and dropout draw from it.

Keeping a single generator makes runs reproducible with one call to
:func:`manual_seed`, and lets a checkpoint store the whole random state as
plain JSON (:func:`get_rng_state` / :func:`set_rng_state`), which is what exact
resume needs.
"""

from __future__ import annotations

import numpy as np

_rng = np.random.default_rng(0)


#: the bit generators a saved state may name
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def manual_seed(seed: int) -> None:
    """Reseed the engine's generator (like ``torch.manual_seed``)."""
    global _rng
    _rng = np.random.default_rng(seed)


def get_rng() -> np.random.Generator:
    return _rng


def get_rng_state() -> dict:
    """The generator's state as a JSON-serialisable dict."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state from :func:`get_rng_state` (the bit generator must match)."""
    global _rng
    if not isinstance(state, dict):
        raise ValueError(f"a random state is a dict, received {type(state).__name__}")
    name = state.get("bit_generator")
    if name not in _BIT_GENERATORS:
        raise ValueError(f"unknown bit generator in random state: {name!r}")
    bitgen_cls = getattr(np.random, name)
    bitgen = bitgen_cls()
    bitgen.state = state
    _rng = np.random.Generator(bitgen)
