"""The explorer's JSON endpoints as plain functions: a dict in, a dict out, bounds checked.

No web code here (see :mod:`.server`): :class:`Explorer` holds the loaded
models and answers one request body at a time; anything wrong with a request
raises :class:`ApiError` with an HTTP status and a one-line message. Work on a
model holds that model's lock (the engine keeps scratch arrays per layer, so
one model computes one thing at a time); the server bounds how many requests
are admitted at once (:data:`LIMITS`). :func:`parse_body` reads a request body
under bounds of its own: nesting depth, integer digits, finite numbers only.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from .cells import (
    BLOCKS,
    CLEAR_R,
    PRESETS,
    SHUFFLES,
    cell_values,
    closing_pairs,
    gate_saturation,
    pattern_signal,
    search_cells,
)
from .gradients import gradient_curves
from .models import Model

#: the bounds of every request (documented in docs/explore.md)
LIMITS = {
    "max_body_bytes": 64 * 1024,  # request body
    "max_text_chars": 4000,  # /api/trace, /api/cells
    "max_sentence_chars": 2000,  # /api/classify
    "max_generate_chars": 2000,  # /api/generate
    "max_regex_chars": 200,
    "regex_seconds": 2.0,  # matching one regex against the text (then 400)
    "max_json_depth": 32,  # arrays and objects inside each other in a request body
    "max_int_digits": 20,  # an integer in a request body (2**64 has 20)
    "max_top_k": 50,  # guesses per character, cells per search
    "max_cells": 16,  # cells whose values one /api/trace returns
    "max_concurrent": 4,  # requests in work at once; more get 429
    "max_window": 200,  # characters of all a layer's cells one /api/match plots
    "max_span": 100,  # characters of the span /api/match selects
    "max_examples": 1000,  # labelled sentences of /api/sentiment/cells and /api/sentiment/ablate
    "max_steer_chars": 1000,  # characters /api/steer samples (twice: free and clamped)
    "max_state_values": 200000,  # numbers one /api/sentiment/states returns
    "work_seconds": 30.0,  # reading labelled sentences (/api/sentiment/cells, ablate): then 413
}

#: the smallest temperature above 0 (greedy); below it the sampler's logits / T overflow
MIN_TEMPERATURE = 1e-6

TRACE_CACHE = 4  # traces kept per explorer (the page re-colours without recomputing)


class ApiError(ValueError):
    """A request that cannot be answered: ``status`` (4xx) and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def _json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings not counted)."""
    skeleton = _JSON_STRING.sub("", text).encode("ascii", "replace")
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
    steps -= np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _json_int(digits: str) -> int:
    count = len(digits.lstrip("-"))
    if count > LIMITS["max_int_digits"]:
        raise ApiError(400, f"a number in the request has {count} digits; "
                            f"the limit is {LIMITS['max_int_digits']}")  # fmt: skip
    return int(digits)


def _json_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ApiError(400, f"numbers must be finite; {literal[:40]} is not")
    return value


def _json_constant(name: str):
    raise ApiError(400, f"{name} is not a JSON number: numbers must be finite")


def parse_body(raw: bytes) -> dict:
    """A request body (UTF-8 JSON) -> dict; an empty body is ``{}``.

    Bounds, each a one-line :class:`ApiError` 400 before anything is computed:
    arrays and objects nested at most ``LIMITS["max_json_depth"]`` deep
    (checked on the text before parsing, so a 30,000-level body never reaches
    the parser's recursion), integers of at most ``LIMITS["max_int_digits"]``
    digits, no ``NaN`` / ``Infinity`` and no number that overflows to
    infinity (``1e999``).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"malformed JSON: the body is not UTF-8 ({exc.reason} at byte "
                            f"{exc.start})") from None  # fmt: skip
    if not text.strip():
        return {}
    depth = _json_depth(text)
    if depth > LIMITS["max_json_depth"]:
        raise ApiError(400, f"the request body is nested {depth} levels deep; "
                            f"the limit is {LIMITS['max_json_depth']}")  # fmt: skip
    try:
        body = json.loads(text, parse_int=_json_int, parse_float=_json_float,
                          parse_constant=_json_constant)  # fmt: skip
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    except RecursionError:  # not reached under the depth bound; never a 500
        raise ApiError(400, "the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def _shown(value) -> str:
    """``repr(value)`` cut to 100 characters (an int past Python's 4,300 digits named by size)."""
    try:
        return repr(value)[:100]
    except ValueError:
        return f"an integer of {value.bit_length()} bits"


def _get(body: dict, name: str, kind, default=None, *, low=None, high=None, allow_none=False):
    """One field of the body, type- and range-checked (``bool`` is not an int here; a
    float must be finite)."""
    value = body.get(name, default)
    if value is None and (allow_none or default is None):
        return None
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value, ok = float(value), True
        except OverflowError:
            raise ApiError(400, f"{name} must be in [{low}, {high}], received "
                                f"{_shown(value)}") from None  # fmt: skip
    if not ok:
        raise ApiError(400, f"{name} must be {kind.__name__}, received {_shown(value)}")
    if kind is float and not math.isfinite(value):
        raise ApiError(400, f"{name} must be a finite number, received {value!r}")
    if low is not None and value < low or high is not None and value > high:
        raise ApiError(400, f"{name} must be in [{low}, {high}], received {_shown(value)}")
    return value


def _round(a, digits: int = 4) -> list:
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


#: a classifier's labels as the data often abbreviates them, and the names the page shows
KNOWN_LABELS = {"pos": "positive", "neg": "negative", "positive": "positive",
                "negative": "negative", "neutral": "neutral"}  # fmt: skip


def parse_label_names(spec: str | None) -> dict[str, str]:
    """``"0=negative,1=positive"`` -> ``{"0": "negative", "1": "positive"}`` (ValueError if bad)."""
    names: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        label, sep, name = part.partition("=")
        if not sep or not label.strip() or not name.strip():
            raise ValueError(f"--labels: expected LABEL=NAME[,LABEL=NAME...], received {part!r}")
        names[label.strip()] = name.strip()
    return names


def label_names(labels: list[str], given: dict[str, str] | None = None) -> tuple[list[str], bool]:
    """The names the page shows for a classifier's ``labels``, and whether they say what the
    classes are: ``given`` names first, then the data's own words ("pos" -> "positive"); a
    label without either (``"0"``, ``"1"``) keeps its own text and the second value is False."""
    given = given or {}
    names, known = [], True
    for label in labels:
        if label in given:
            names.append(given[label])
        elif label.lower() in KNOWN_LABELS:
            names.append(KNOWN_LABELS[label.lower()])
        else:
            names.append(label)
            known = known and not label.strip().lstrip("-").isdigit()
    return names, known


class Explorer:
    """The loaded models and what the endpoints compute on them.

    ``labels``: names for classifier labels (``{"1": "positive"}``), from
    ``rnnkit explore --labels``; a label named there that no classifier has is an error.
    """

    def __init__(self, models: dict[str, Model], labels: dict[str, str] | None = None):
        self.models = models
        self.labels = dict(labels or {})
        known = {lab for m in models.values() if m.kind == "sentiment" for lab in m.app.labels}
        unknown = sorted(set(self.labels) - known)
        if unknown:
            raise ValueError(f"--labels: no classifier has the label(s) {unknown}; "
                             f"their labels: {sorted(known)}")  # fmt: skip
        self._locks = {name: threading.Lock() for name in models}
        self._traces: OrderedDict = OrderedDict()
        self._traces_lock = threading.Lock()
        self._gradients: dict[str, dict] = {}

    # -- helpers ----------------------------------------------------------------------
    def model(self, body: dict, kind: str | None = None) -> Model:
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        name = body.get("model")
        if name is None:
            candidates = [m for m in self.models.values() if kind is None or m.kind == kind]
            if len(candidates) != 1:
                raise ApiError(400, f"give model: one of {sorted(self.models)}")
            return candidates[0]
        if not isinstance(name, str) or name not in self.models:
            known = sorted(self.models)
            raise ApiError(404, f"unknown model {_shown(name)}; models: {known}"[:300])
        model = self.models[name]
        if kind is not None and model.kind != kind:
            raise ApiError(
                400, f"model {name!r} is a {model.kind} model; this endpoint needs {kind}"
            )
        return model

    def _text(self, body: dict, limit: int, default: str = "") -> str:
        text = _get(body, "text", str, default)
        if not text:
            raise ApiError(400, "text must be a non-empty string")
        if len(text) > limit:
            raise ApiError(413, f"text has {len(text)} characters; the limit is {limit}")
        return text

    def _trace(self, model: Model, text: str):
        """The CharLM trace of ``text``, from a small cache (under the model's lock)."""
        key = (model.name, text)
        with self._traces_lock:
            if key in self._traces:
                self._traces.move_to_end(key)
                return self._traces[key]
        with self._locks[model.name]:
            trace = model.app.trace(text, top_k=LIMITS["max_top_k"])
        with self._traces_lock:
            self._traces[key] = trace
            while len(self._traces) > TRACE_CACHE:
                self._traces.popitem(last=False)
        return trace

    @staticmethod
    def _symbol(model: Model, i: int) -> str:
        return chr(model.app.vocab.symbols[int(i)])

    # -- endpoints --------------------------------------------------------------------
    def list_models(self) -> dict:
        """GET /api/models."""
        described = []
        for m in self.models.values():
            entry = m.describe()
            if m.kind == "sentiment":
                entry["label_names"], entry["labels_named"] = label_names(
                    list(m.app.labels), self.labels
                )
            described.append(entry)
        return {"models": described, "limits": LIMITS, "presets": PRESETS}

    def generate_stream(self, body: dict) -> Iterator[dict]:
        """POST /api/generate/stream: one ``{"char", "top"}`` per character, then ``{"done"}``.

        The request is checked here, before the first character (an
        :class:`ApiError` is raised at the call, not while streaming).
        """
        model, kwargs, guesses = self.check_generate(body)
        return self._stream(model, kwargs, guesses)

    def _stream(self, model: Model, kwargs: dict, guesses: int) -> Iterator[dict]:
        from ..textgen.trace import generate_with_guesses

        lock = self._locks[model.name]
        stream = generate_with_guesses(model.app, guesses=guesses, **kwargs)
        pieces = []
        try:
            while True:
                with lock:  # one character at a time, so other requests interleave
                    item = next(stream, None)
                if item is None:
                    break
                next_id, top_ids, top_probs = item
                char = self._symbol(model, next_id)
                pieces.append(char)
                top = [[self._symbol(model, i), round(float(p), 4)]
                       for i, p in zip(top_ids, top_probs, strict=True)]  # fmt: skip
                yield {"char": char, "top": top}
        finally:
            stream.close()
        yield {"done": True, "text": "".join(pieces)}

    def check_generate(self, body: dict) -> tuple[Model, dict, int]:
        model = self.model(body, "textgen")
        length = _get(body, "length", int, 200, low=0, high=LIMITS["max_generate_chars"])
        kwargs = {
            "length": length,
            "prime": _get(body, "prime", str, "", allow_none=True) or None,
            "temperature": _get(body, "temperature", float, 1.0, low=0.0, high=10.0),
            "top_k": _get(body, "top_k", int, None, low=1, high=100000),
            "top_p": _get(body, "top_p", float, None, low=1e-6, high=1.0),
            "seed": _get(body, "seed", int, None, low=0, high=2**63 - 1),
        }
        if 0 < kwargs["temperature"] < MIN_TEMPERATURE:  # logits / T would overflow to NaN
            raise ApiError(400, f"temperature must be 0 (greedy) or in [{MIN_TEMPERATURE:g}, "
                                f"10.0], received {kwargs['temperature']!r}")  # fmt: skip
        guesses = _get(body, "guesses", int, 5, low=1, high=LIMITS["max_top_k"])
        prime = kwargs["prime"]
        if prime is not None:
            if len(prime) > LIMITS["max_text_chars"]:
                raise ApiError(413, f"prime has {len(prime)} characters; "
                                    f"the limit is {LIMITS['max_text_chars']}")  # fmt: skip
            unknown = model.app.vocab.unknown(prime)
            if unknown:
                raise ApiError(400, "the prime has characters the model does not know: "
                                    + ", ".join(unknown[:10]))  # fmt: skip
        return model, kwargs, guesses

    def generate(self, body: dict) -> dict:
        """POST /api/generate: the whole text and the guesses after each character."""
        model = self.model(body, "textgen")
        chars, text = [], ""
        for event in self.generate_stream(body):
            if event.get("done"):
                text = event["text"]
            else:
                chars.append(event)
        return {"model": model.name, "text": text, "chars": chars}

    def trace(self, body: dict) -> dict:
        """POST /api/trace: per character its top guesses and log p(next); gate saturation;
        the values of the cells asked for (``cells: [{"layer", "kind", "unit"}]``)."""
        model = self.model(body, "textgen")
        text = self._text(body, LIMITS["max_text_chars"], model.sample)
        top_k = _get(body, "top_k", int, 5, low=1, high=LIMITS["max_top_k"])
        wanted = body.get("cells", [{"layer": 0, "kind": "h", "unit": 0}])
        if not isinstance(wanted, list) or len(wanted) > LIMITS["max_cells"]:
            raise ApiError(400, f"cells must be a list of at most {LIMITS['max_cells']} objects")
        self._check_vocab(model, text)
        trace = self._trace(model, text)
        chars = []
        for t in range(len(trace.ids)):
            guesses = zip(trace.top_ids[t, :top_k], trace.top_probs[t, :top_k], strict=True)
            top = [[self._symbol(model, i), round(float(p), 4)] for i, p in guesses]
            entry = {"char": chr(model.app.vocab.symbols[int(trace.ids[t])]), "top": top}
            entry["logprob_next"] = (
                round(float(trace.log_prob_next[t]), 4) if t < len(trace.log_prob_next) else None
            )
            chars.append(entry)
        cells = [self._cell(trace.layers, spec) for spec in wanted]
        return {
            "model": model.name, "chars": chars,
            "loss": None if len(text) < 2 else round(trace.loss, 4),
            "gates": gate_saturation(trace.layers), "cells": cells,
            "closings": closing_pairs(text) if len(text) == len(chars) else [],
        }  # fmt: skip

    def _check_vocab(self, model: Model, text: str) -> None:
        unknown = model.app.vocab.unknown(text)
        if unknown:
            raise ApiError(400, "the text has characters the model does not know: "
                                + ", ".join(unknown[:10]))  # fmt: skip

    def _cell(self, layers, spec) -> dict:
        if not isinstance(spec, dict):
            raise ApiError(400, "each cell must be an object {layer, kind, unit}")
        layer = _get(spec, "layer", int, 0, low=0, high=len(layers) - 1)
        kind = _get(spec, "kind", str, "h")
        try:
            values = cell_values(layers, layer, kind)  # (T, H)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        unit = _get(spec, "unit", int, 0, low=0, high=values.shape[1] - 1)
        return {"layer": layer, "kind": kind, "unit": unit, "values": _round(values[:, unit], 3)}

    def cells(self, body: dict) -> dict:
        """POST /api/cells: ``text`` and ``preset`` (a name), ``regex`` or ``position: "line"``
        -> ranked cells, the chance level of the best |r| and a verdict."""
        model = self.model(body, "textgen")
        text = self._text(body, LIMITS["max_text_chars"], model.sample)
        regex = _get(body, "regex", str, None)
        position = _get(body, "position", str, None)
        preset = _get(body, "preset", str, None)
        if regex is not None and len(regex) > LIMITS["max_regex_chars"]:
            raise ApiError(413, f"regex has {len(regex)} characters; "
                                f"the limit is {LIMITS['max_regex_chars']}")  # fmt: skip
        top = _get(body, "top", int, 10, low=1, high=LIMITS["max_top_k"])
        shown = _get(body, "shown", int, 3, low=0, high=LIMITS["max_cells"])
        self._check_vocab(model, text)
        try:
            signal = pattern_signal(text, regex=regex, position=position, preset=preset,
                                    seconds=LIMITS["regex_seconds"])  # fmt: skip
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        trace = self._trace(model, text)
        try:
            found = search_cells(trace.layers, signal, top=top)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        ranked, chance, best = found["cells"], found["chance"], found["best"]
        for i, cell in enumerate(ranked):
            cell["correlation"] = round(cell["correlation"], 4)
            cell["above_chance"] = abs(cell["correlation"]) > chance
            if i < shown:
                cell["values"] = self._cell(trace.layers, cell)["values"]
        if best <= chance:
            verdict = "none"
        else:
            verdict = "clear" if best >= CLEAR_R else "weak"
        if preset is not None:
            regex, position = PRESETS[preset].get("regex"), PRESETS[preset].get("position")
        return {"model": model.name, "regex": regex, "position": position, "preset": preset,
                "mask": position is None,  # signal: 1 on the characters marked, else 0
                "matched": round(float((signal > 0).mean()), 4),
                "signal": signal.astype(np.int64).tolist(),
                "chance": round(chance, 4), "clear_r": CLEAR_R, "verdict": verdict,
                "shuffles": SHUFFLES, "blocks": BLOCKS, "cells": ranked}  # fmt: skip

    def classify(self, body: dict) -> dict:
        """POST /api/classify: label, probabilities, per-word trajectory and attribution."""
        model = self.model(body, "sentiment")
        text = self._text(body, LIMITS["max_sentence_chars"])
        if not text.strip():
            raise ApiError(400, "text has no words")
        with self._locks[model.name]:
            try:
                trace = model.app.trace(text)
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
        names, named = label_names(trace.labels, self.labels)
        return {
            "model": model.name, "label": trace.label,
            "label_name": names[trace.labels.index(trace.label)], "label_names": names,
            "labels_named": named,
            "probability": round(trace.probabilities[trace.label], 4),
            "probabilities": {k: round(v, 4) for k, v in trace.probabilities.items()},
            "labels": trace.labels, "tokens": trace.tokens,
            "trajectory": _round(trace.trajectory), "attribution": _round(trace.attribution),
            "attribution_probability": _round(trace.attribution_probability),
            "attribution_method": "leave-one-out, log-odds",
        }  # fmt: skip

    def gradients(self, body: dict) -> dict:
        """POST /api/gradients: gradient-flow curves, trained weights beside random init."""
        model = self.model(body)
        with self._locks[model.name]:
            if model.name not in self._gradients:
                self._gradients[model.name] = gradient_curves(model)
        return {"model": model.name, **self._gradients[model.name]}
