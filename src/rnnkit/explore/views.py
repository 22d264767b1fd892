"""The endpoints of the probing views: LSTMVis's select and match, the classifier's cells
(its state word by word, the cells that track a label, ablation) and steering.

Each is a function ``(explorer, body) -> dict`` checked like the endpoints of
:mod:`.api` (the same :func:`~rnnkit.explore.api._get` checks and :data:`LIMITS`; a
bad request is an :class:`~rnnkit.explore.api.ApiError` with a 4xx status), the
computations in :mod:`.probe`. Model work holds the model's lock.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .api import LIMITS, ApiError, Explorer, _get, _round, label_names
from .cells import CLEAR_R, PRESETS, cell_values
from .probe import LABEL_SHUFFLES, Clamp, classifier_run, label_cells, select_and_match, steer_ids
from .probe import summaries as cell_summaries

#: the largest |value| a cell may be clamped to (h of a tanh cell lies in [-1, 1])
MAX_CLAMP = 10.0


def _cell(body: dict, rnn, name: str = "cell") -> tuple[int, int]:
    """``body[name] = {"layer", "unit"}`` checked against ``rnn`` (a unit counts over D*H)."""
    spec = body.get(name)
    if not isinstance(spec, dict):
        raise ApiError(400, f"{name} must be an object {{layer, unit}}")
    layer = _get(spec, "layer", int, 0, low=0, high=rnn.num_layers - 1)
    unit = _get(spec, "unit", int, 0, low=0, high=rnn.num_directions * rnn.hidden_size - 1)
    return layer, unit


# -- LSTMVis: select and match ----------------------------------------------------------
def match(explorer: Explorer, body: dict) -> dict:
    """POST /api/match: every cell of one layer over a window of the text (the plot), and
    with ``start``/``end`` the cells on over that span (``>= threshold``) and the spans
    of the text where the same cells are on, ranked (:func:`~.probe.select_and_match`)."""
    model = explorer.model(body, "textgen")
    text = explorer._text(body, LIMITS["max_text_chars"], model.sample)
    explorer._check_vocab(model, text)
    layer = _get(body, "layer", int, 0, low=0, high=model.rnn.num_layers - 1)
    kind = _get(body, "kind", str, "h")
    if kind not in ("h", "tanh_c"):
        raise ApiError(400, f"kind must be 'h' or 'tanh_c', received {kind[:40]!r}")
    threshold = _get(body, "threshold", float, 0.3, low=-1.0, high=1.0)
    top = _get(body, "top", int, 10, low=1, high=LIMITS["max_top_k"])
    trace = explorer._trace(model, text)
    try:
        values = cell_values(trace.layers, layer, kind)  # (T, H)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    T = len(values)
    window = _get(body, "window", int, 80, low=1, high=LIMITS["max_window"])
    first = _get(body, "window_start", int, 0, low=0, high=T - 1)
    window = min(window, T - first)
    answer = {"model": model.name, "layer": layer, "kind": kind, "threshold": threshold,
              "length": T, "cells": values.shape[1],
              "window": {"start": first, "values": _round(values[first : first + window].T, 3)},
              "selection": None, "matches": []}  # fmt: skip
    start = _get(body, "start", int, None, low=0, high=T - 1)
    end = _get(body, "end", int, None, low=1, high=T)
    if (start is None) != (end is None):
        raise ApiError(400, "give both start and end (a span), or neither")
    if start is None:
        return answer
    if end <= start or end - start > LIMITS["max_span"]:
        raise ApiError(400, f"the span must have 1 to {LIMITS['max_span']} characters, "
                            f"received [{start}, {end})")  # fmt: skip
    found = select_and_match(values, start, end, threshold, top)
    answer["selection"] = {"start": start, "end": end, "cells": found["selected"]}
    answer["matches"] = [{**m, "text": text[m["start"] : m["end"]]} for m in found["matches"]]
    return answer


# -- steering ---------------------------------------------------------------------------
def steer(explorer: Explorer, body: dict) -> dict:
    """POST /api/steer: the same sample twice from one seed, free and with one cell clamped.

    The generation options are those of /api/generate (checked the same way);
    ``cell: {layer, unit}`` and ``value`` the clamp; ``seed`` 0 unless given, so that
    both texts use the same draws and differ only by the clamp.
    """
    from ..textgen.sampling import SamplingOptions

    body = dict(body)
    body.setdefault("seed", 0)
    if body["seed"] is None:
        body["seed"] = 0
    model, kwargs, _ = explorer.check_generate(body)
    if kwargs["length"] > LIMITS["max_steer_chars"]:
        raise ApiError(400, f"length must be in [0, {LIMITS['max_steer_chars']}] to steer, "
                            f"received {kwargs['length']}")  # fmt: skip
    layer, unit = _cell(body, model.rnn)
    value = _get(body, "value", float, None, low=-MAX_CLAMP, high=MAX_CLAMP)
    if value is None:
        raise ApiError(400, f"value must be a number in [{-MAX_CLAMP}, {MAX_CLAMP}]")
    lm = model.app
    options = SamplingOptions(kwargs["temperature"], kwargs["top_k"], kwargs["top_p"])
    try:
        options.validate()
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    prime = kwargs["prime"] or lm.default_prime()
    prime_ids = lm.vocab.encode(prime)
    texts, values = {}, []
    with explorer._locks[model.name]:
        for name, clamp in (("free", None), ("steered", Clamp(layer, unit, value))):
            rng = np.random.default_rng(kwargs["seed"])
            chars = []
            for next_id, seen in steer_ids(lm, prime_ids, kwargs["length"], options, rng,
                                           clamp, watch=(layer, unit)):  # fmt: skip
                chars.append(explorer._symbol(model, next_id))
                if clamp is None:
                    values.append(seen)
            texts[name] = "".join(chars)
    free, steered = texts["free"], texts["steered"]
    first = next((i for i, (a, b) in enumerate(zip(free, steered, strict=False)) if a != b), None)
    if first is None and len(free) != len(steered):
        first = min(len(free), len(steered))
    changed = sum(a != b for a, b in zip(free, steered, strict=False))
    return {"model": model.name, "prime": prime, "seed": kwargs["seed"],
            "cell": {"layer": layer, "unit": unit}, "value": value,
            "free": free, "steered": steered, "free_values": _round(values, 3),
            "first_difference": first, "changed": changed}  # fmt: skip


# -- the classifier's cells -------------------------------------------------------------
def _sentence(explorer: Explorer, body: dict) -> str:
    text = explorer._text(body, LIMITS["max_sentence_chars"])
    if not text.strip():
        raise ApiError(400, "text has no words")
    return text


def _run(model, text: str, clamp: Clamp | None = None):
    try:
        return classifier_run(model.app, text, clamp)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _verdict(explorer: Explorer, model, probs) -> dict:
    labels = list(model.app.labels)
    names, _ = label_names(labels, explorer.labels)
    best = int(np.argmax(probs))
    return {"label": labels[best], "label_name": names[best],
            "probabilities": {lab: round(float(p), 4)
                              for lab, p in zip(labels, probs, strict=True)}}  # fmt: skip


def sentiment_states(explorer: Explorer, body: dict) -> dict:
    """POST /api/sentiment/states: every layer's hidden state after each word."""
    model = explorer.model(body, "sentiment")
    text = _sentence(explorer, body)
    with explorer._locks[model.name]:
        tokens, outputs, _, probs = _run(model, text)
    size = sum(o.size for o in outputs)
    if size > LIMITS["max_state_values"]:
        raise ApiError(413, f"the states are {size} numbers; the limit is "
                            f"{LIMITS['max_state_values']} (a shorter sentence)")  # fmt: skip
    names, named = label_names(list(model.app.labels), explorer.labels)
    rnn = model.rnn
    return {"model": model.name, "tokens": tokens, "directions": rnn.num_directions,
            "hidden_size": rnn.hidden_size, "labels": list(model.app.labels),
            "label_names": names, "labels_named": named, **_verdict(explorer, model, probs),
            "layers": [{"layer": i, "h": _round(o, 3)} for i, o in enumerate(outputs)]}  # fmt: skip


def _examples(explorer: Explorer, model, body: dict, required: bool):
    """``examples: [[text, label], ...]`` checked; None when absent and not ``required``."""
    examples = body.get("examples")
    if examples is None and not required:
        return None
    limit = LIMITS["max_examples"]
    if not isinstance(examples, list) or not examples or len(examples) > limit:
        raise ApiError(400, f"examples must be a list of 1 to {limit} [text, label] pairs")
    labels = [str(lab) for lab in model.app.labels]
    out = []
    for i, pair in enumerate(examples):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                and isinstance(pair[1], str)):  # fmt: skip
            raise ApiError(400, f"example {i} must be a pair [text, label] of strings")
        text, label = pair
        if len(text) > LIMITS["max_sentence_chars"]:
            raise ApiError(413, f"example {i} has {len(text)} characters; the limit is "
                                f"{LIMITS['max_sentence_chars']}")  # fmt: skip
        if label not in labels:
            raise ApiError(400, f"example {i}: label {label[:40]!r} is not one of the "
                                f"model's labels {labels}")  # fmt: skip
        if text.strip():
            out.append((text, label))
    if not out:
        raise ApiError(400, "no example has words")
    return out


class _Deadline:
    """Raises a 413 once ``LIMITS["work_seconds"]`` have passed since it was made."""

    def __init__(self):
        self.end = time.monotonic() + LIMITS["work_seconds"]

    def check(self, done: int, total: int) -> None:
        if time.monotonic() > self.end:
            raise ApiError(413, f"reading the sentences took more than "
                                f"{LIMITS['work_seconds']:g} s ({done} of {total} read); "
                                f"give fewer or shorter sentences")  # fmt: skip


def _target(explorer: Explorer, model, body: dict) -> str:
    labels = [str(lab) for lab in model.app.labels]
    label = _get(body, "label", str, None)
    if label is None:
        names, _ = label_names(labels, explorer.labels)
        return labels[names.index("positive")] if "positive" in names else labels[-1]
    if label not in labels:
        raise ApiError(400, f"label must be one of {labels}, received {label[:40]!r}")
    return label


def sentiment_cells(explorer: Explorer, body: dict) -> dict:
    """POST /api/sentiment/cells: over labelled ``examples``, the cells whose summary of a
    sentence (the model's pooling of that layer) correlates with ``label``; a chance level
    from shuffled labels and a verdict (:func:`~.probe.label_cells`)."""
    model = explorer.model(body, "sentiment")
    examples = _examples(explorer, model, body, required=True)
    label = _target(explorer, model, body)
    top = _get(body, "top", int, 10, low=1, high=LIMITS["max_top_k"])
    features, correct = [], 0
    labels = list(model.app.labels)
    deadline = _Deadline()
    with explorer._locks[model.name]:
        for i, (text, gold) in enumerate(examples):
            deadline.check(i, len(examples))
            _, outputs, finals, probs = _run(model, text)
            features.append(cell_summaries(model.app, outputs, finals))
            correct += labels[int(np.argmax(probs))] == gold
    X = np.stack(features)  # (N, L * D*H)
    y = np.array([gold == label for _, gold in examples], dtype=np.float64)
    try:
        found = label_cells(X, y, top)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    rnn = model.rnn
    width = rnn.num_directions * rnn.hidden_size
    names, _ = label_names(labels, explorer.labels)
    cells = []
    for n in found["order"]:
        r = float(found["r"][n])
        cells.append({"layer": n // width, "unit": n % width,
                      "direction": (n % width) // rnn.hidden_size,
                      "correlation": round(r, 4), "above_chance": abs(r) > found["chance"],
                      "mean_label": round(float(X[y == 1, n].mean()), 4),
                      "mean_other": round(float(X[y == 0, n].mean()), 4)})  # fmt: skip
    return {"model": model.name, "label": label, "label_name": names[labels.index(label)],
            "examples": len(examples), "accuracy": round(correct / len(examples), 4),
            "pooling": model.app.network.config.pooling,
            "chance": round(found["chance"], 4), "clear_r": CLEAR_R, "shuffles": LABEL_SHUFFLES,
            "verdict": found["verdict"], "cells": cells}  # fmt: skip


def sentiment_ablate(explorer: Explorer, body: dict) -> dict:
    """POST /api/sentiment/ablate: the prediction of ``text`` with ``cell`` as it is, zeroed,
    and clamped to ``value`` (if given) at every word; with ``examples``, the accuracy over
    them each way and how many predictions the change flips."""
    model = explorer.model(body, "sentiment")
    text = _sentence(explorer, body)
    layer, unit = _cell(body, model.rnn)
    value = _get(body, "value", float, None, low=-MAX_CLAMP, high=MAX_CLAMP)
    examples = _examples(explorer, model, body, required=False)
    ways = {"base": None, "zeroed": Clamp(layer, unit, 0.0)}
    if value is not None:
        ways["clamped"] = Clamp(layer, unit, value)
    labels = list(model.app.labels)
    answer = {"model": model.name, "cell": {"layer": layer, "unit": unit}, "value": value}
    with explorer._locks[model.name]:
        for name, clamp in ways.items():
            tokens, outputs, _, probs = _run(model, text, clamp)
            answer[name] = _verdict(explorer, model, probs)
            if clamp is None:
                answer["tokens"], answer["values"] = tokens, _round(outputs[layer][:, unit], 3)
        if examples is not None:
            predicted = {name: [] for name in ways}
            deadline = _Deadline()
            for i, (sentence, _) in enumerate(examples):
                deadline.check(i, len(examples))
                for name, clamp in ways.items():
                    predicted[name].append(labels[int(np.argmax(_run(model, sentence, clamp)[3]))])
            gold = [g for _, g in examples]
            summary = {"examples": len(gold)}
            for name, preds in predicted.items():
                right = [p == g for p, g in zip(preds, gold, strict=True)]
                summary[f"accuracy_{name}"] = round(float(np.mean(right)), 4)
                if name != "base":
                    base = predicted["base"]
                    summary[f"flipped_{name}"] = sum(
                        a != b for a, b in zip(base, preds, strict=True)
                    )
            answer["over_examples"] = summary
    return answer


def report_data(explorer: Explorer, text: str | None, sentences: list[str]) -> dict[str, Any]:
    """Everything the page shows, precomputed, for the self-contained HTML file."""
    data: dict[str, Any] = {"models": explorer.list_models(), "answers": {}}
    answers = data["answers"]
    for name, model in explorer.models.items():
        entry: dict[str, Any] = {"gradients": explorer.gradients({"model": name})}
        if model.kind == "textgen":
            sample = text if text is not None else model.sample
            if not sample:
                sample = model.app.generate(600, seed=0, temperature=0.8)
            sample = sample[: LIMITS["max_text_chars"]]
            entry["text"] = sample
            entry["generate"] = explorer.generate({"model": name, "length": 300, "seed": 0,
                                                   "temperature": 0.8})  # fmt: skip
            searches = {}
            for label in PRESETS:
                try:
                    body = {"model": name, "text": sample, "preset": label, "shown": 3}
                    searches[label] = explorer.cells(body)
                except ApiError:
                    continue  # the pattern does not occur in this text: not offered
            entry["cells"] = searches
            cells = [{"layer": c["layer"], "kind": c["kind"], "unit": c["unit"]}
                     for s in searches.values() for c in s["cells"][:3]]  # fmt: skip
            seen, unique = set(), []
            for c in cells + [{"layer": 0, "kind": "h", "unit": u} for u in range(4)]:
                key = (c["layer"], c["kind"], c["unit"])
                if key not in seen:
                    seen.add(key)
                    unique.append(c)
            trace = {}
            for start in range(0, len(unique), LIMITS["max_cells"]):
                chunk = unique[start : start + LIMITS["max_cells"]]
                part = explorer.trace({"model": name, "text": sample, "cells": chunk})
                trace.setdefault("cells", []).extend(part.pop("cells"))
                trace.update(part)
            entry["trace"] = trace
        else:
            entry["classify"] = [{**explorer.classify({"model": name, "text": s}), "text": s}
                                 for s in sentences if s.strip()]  # fmt: skip
            entry["states"] = [{**sentiment_states(explorer, {"model": name, "text": s}), "text": s}
                               for s in sentences if s.strip()]  # fmt: skip
        answers[name] = entry
    return data
