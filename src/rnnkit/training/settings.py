"""Options as dataclass fields: one field is one option, in the API, the checkpoint and the CLI.

Each application describes itself with dataclasses whose fields are made
with :func:`option`::

    @dataclass(frozen=True)
    class TrainSettings:
        lr: float = option(2e-3, "learning rate")
        grad_clip: float | None = option(5.0, "max gradient norm, 0 = off", zero_is_none=True)

The field's name is the keyword argument and the JSON key in the
checkpoint; its type, default and help text are what ``rnnkit.cli`` turns
into a command-line flag (``--lr``, ``--grad-clip``). Nothing else lists the
options, so adding one is adding one field (and using it).

Metadata understood by the command line (all optional):

* ``help``: the help text (the default is appended in parentheses);
* ``flags``: the flags instead of ``--field-name`` (e.g. ``("--cell", "--model")``);
* ``choices``: the allowed values;
* ``metavar``: the placeholder shown in ``--help``;
* ``zero_is_none``: ``0`` on the command line means None (off / no limit);
* ``parse``: a function from the flag's text to the value (e.g. ``"3-5"`` -> ``(3, 5)``);
* ``negate``: for a bool field defaulting to True, the flag that sets it False
  (e.g. ``"--cased"`` for ``lowercase``);
* ``cli=False``: not an option (a size that comes from the data, say).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, help: str, **metadata: Any) -> Any:
    """A dataclass field with a default and the metadata described in the module docstring."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def option_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are options (they have help text and are not ``cli=False``)."""
    return [
        f for f in dataclasses.fields(cls) if "help" in f.metadata and f.metadata.get("cli", True)
    ]


def from_dict(cls: type[T], data: Mapping[str, Any], renamed: Mapping[str, str] | None = None) -> T:
    """``cls(**data)`` keeping only ``cls``'s fields; ``renamed`` maps old keys to new ones.

    Unknown keys are dropped and missing ones take their defaults, so settings
    saved by an older (or newer) version still load.
    """
    data = dict(data)
    for old, new in (renamed or {}).items():
        if old in data and new not in data:
            data[new] = data.pop(old)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def check_positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    """``value > 0`` and finite (nan, inf and 0 refused), else a ValueError naming ``name``."""
    if value is None and allow_none:
        return
    if value is None or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, received {value}")


def check_seed(seed: int) -> None:
    """A seed is an integer >= 0 (NumPy's generators refuse negative ones)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, received {seed!r}")


@dataclass(frozen=True)
class StopRule:
    """When a run stops: the first of these reached (counted from the run's start)."""

    epochs: float | None = option(None, "passes over the training data", metavar="N")
    steps: int | None = option(None, "optimizer steps, counted from the run's start", metavar="N")
    minutes: float | None = option(
        None, "wall-clock minutes, counted from the run's start", metavar="M"
    )

    def given(self) -> bool:
        return any(v is not None for v in dataclasses.astuple(self))

    def validate(self) -> None:
        for name in ("epochs", "steps", "minutes"):
            check_positive(name, getattr(self, name), allow_none=True)


#: who computes a training step's forward and backward
ENGINES = ("numpy", "torch")


@dataclass(frozen=True)
class EngineChoice:
    """Who computes forward and backward; not saved with the run (either engine resumes it)."""

    engine: str = option(
        "numpy",
        "who computes forward and backward: numpy, or torch (PyTorch, on a GPU when one is "
        "present; also under torchrun, see docs/beyond-one-machine.md)",
        choices=ENGINES,
    )

    def validate(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(
                f"engine must be one of {', '.join(ENGINES)}, received {self.engine!r}"
            )
