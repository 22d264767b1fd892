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
* ``bounds``: the :class:`Bounds` of a number, checked by the dataclass's
  ``validate`` (:func:`check_bounds`) before anything is started;
* ``nargs``: several values on the command line (``"+"``; the field holds a tuple);
* ``repeatable``: the flag may be given several times (the field holds a tuple);
* ``required``: the flag must be given (a field whose default means "not set");
* ``aliases``: old names of a renamed option, still accepted with a warning;
* ``cli=False``: not an option (a size that comes from the data, say).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
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


#: the largest count an option takes (steps, sizes, lengths, batch sizes...)
MAX_COUNT = 10**9
#: the largest seed (NumPy and PyTorch both take 64-bit seeds)
MAX_SEED = 2**64 - 1
#: the largest learning rate or penalty factor: above it every run diverges at once
MAX_RATE = 1e3


def _number_text(value: float) -> str:
    if value == MAX_SEED:
        return "2^64 - 1"
    if value >= 1e6 and math.log10(value).is_integer():
        return f"10^{int(math.log10(value))}"
    return f"{value:g}"


@dataclass(frozen=True)
class Bounds:
    """The values a number may take: ``low`` to ``high`` (inclusive unless ``*_open``),
    finite always, an integer if ``integer``.

    ``problem(value)`` is None for a value inside, else the end of the one-line
    error (``"must be an integer in [1, 10^9], received 1e+308"``); ``check(name,
    value)`` raises that ValueError with the name in front.
    """

    low: float
    high: float
    integer: bool = False
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        lo, hi = _number_text(self.low), _number_text(self.high)
        if self.integer:
            return f"an integer in [{lo}, {hi}]"
        return f"in {'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"must be {self.describe()}, received {value!r}"
        inside = (
            math.isfinite(value)
            and (value > self.low if self.low_open else value >= self.low)
            and (value < self.high if self.high_open else value <= self.high)
            and (not self.integer or float(value).is_integer())
        )
        return None if inside else f"must be {self.describe()}, received {value!r}"

    def check(self, name: str, value: Any) -> None:
        problem = self.problem(value)
        if problem is not None:
            raise ValueError(f"{name} {problem}")


def count(low: int = 1, high: int = MAX_COUNT) -> Bounds:
    """An integer from ``low`` (default 1) to ``high`` (default :data:`MAX_COUNT`)."""
    return Bounds(low, high, integer=True)


#: a random seed
SEED = Bounds(0, MAX_SEED, integer=True)
#: a fraction strictly between 0 and 1 (a decay), in [0, 1) (a dropout), in (0, 1]
DECAY = Bounds(0.0, 1.0, low_open=True, high_open=True)
FRACTION = Bounds(0.0, 1.0, high_open=True)
SHARE = Bounds(0.0, 1.0, low_open=True)
#: a learning rate
RATE = Bounds(0.0, MAX_RATE, low_open=True)


def check_bounds(obj: Any) -> None:
    """Check every field of the dataclass ``obj`` that has ``bounds`` (None is skipped:
    it means off); a ValueError naming the first field outside."""
    for f in dataclasses.fields(obj):
        bounds = f.metadata.get("bounds")
        value = getattr(obj, f.name)
        if bounds is not None and value is not None:
            bounds.check(f.name, value)


def check_positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    """``value > 0`` and finite (nan, inf and 0 refused), else a ValueError naming ``name``."""
    if value is None and allow_none:
        return
    if value is None or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, received {value}")


def check_seed(seed: int) -> None:
    """A seed is an integer in [0, 2^64 - 1] (NumPy's generators refuse negative ones)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be {SEED.describe()}, received {seed!r}")
    SEED.check("seed", seed)


@dataclass(frozen=True)
class StopRule:
    """When a run stops: the first of these reached (counted from the run's start)."""

    epochs: float | None = option(None, "passes over the training data", metavar="N",
                                  bounds=Bounds(0, MAX_COUNT, low_open=True))  # fmt: skip
    steps: int | None = option(None, "optimizer steps, counted from the run's start", metavar="N",
                               bounds=count())  # fmt: skip
    minutes: float | None = option(
        None, "wall-clock minutes, counted from the run's start", metavar="M",
        bounds=Bounds(0, MAX_COUNT, low_open=True),
    )  # fmt: skip

    def given(self) -> bool:
        return any(v is not None for v in dataclasses.astuple(self))

    def validate(self) -> None:
        check_bounds(self)


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


@dataclass(frozen=True)
class ModelArgument:
    """The model a command reads: a run directory (its best checkpoint), a checkpoint
    file or a safetensors export."""

    run_dir: str = option(None, "run directory, checkpoint file or safetensors export",
                          metavar="RUN_DIR", positional=True, required=True)  # fmt: skip


@dataclass(frozen=True)
class InitFrom:
    """Where a new run's weights and vocabulary come from; the same meaning in every
    application. Not saved as a setting: the run records it in its data."""

    init_from: str | None = option(
        None, "start from this run's (or checkpoint's) weights, architecture and vocabulary "
        "instead of new ones (fine-tuning)", metavar="RUN",
    )
