"""The probing views' numbers on real runs (docs/explore.md, "Probing views, measured").

    python bench/explore_probe_finding.py TEXTGEN_RUN CORPUS SENTIMENT_RUN LABELLED_FILE

* the classifier: the sentiment-cell search (/api/sentiment/cells) over the first
  1,000 lines of LABELLED_FILE ("LABEL sentence", SST-2's form), and ablation of the
  best cell (zeroed, clamped to -1 and +1) over the same sentences;
* the text model: select and match (/api/match) on the last 4,000 characters of
  CORPUS, a span of a speaker's name; steering (/api/steer) with the layer-1 h cell
  that best tracks the position in the line, clamped to -1 and +1: mean line length of
  1,000 sampled characters, free and clamped, over 5 seeds.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from rnnkit.explore import views
from rnnkit.explore.api import Explorer
from rnnkit.explore.cells import pattern_signal, search_cells
from rnnkit.explore.models import load_models


def line_lengths(text: str) -> float:
    lines = text.split("\n")[1:-1]  # whole lines only
    return float(np.mean([len(x) for x in lines])) if lines else float("nan")


def main(tg_run: str, corpus: str, st_run: str, labelled: str) -> None:
    models = load_models([tg_run, st_run])
    tg, st = list(models)
    explorer = Explorer(models, {"0": "negative", "1": "positive"})

    print("== the classifier's cells")
    examples = []
    for line in Path(labelled).read_text(encoding="utf-8").splitlines():
        label, _, text = line.strip().partition(" ")
        if text:
            examples.append([text, label])
        if len(examples) == 1000:
            break
    found = views.sentiment_cells(explorer, {"model": st, "examples": examples})
    print(f"{found['examples']} sentences, model accuracy {found['accuracy']:.3f}, "
          f"pooling {found['pooling']}, chance |r| {found['chance']:.3f}, "
          f"verdict {found['verdict']}")  # fmt: skip
    for c in found["cells"][:5]:
        print(f"  layer {c['layer']} unit {c['unit']} (direction {c['direction']}): "
              f"r = {c['correlation']:+.3f}, mean positive {c['mean_label']:+.3f}, "
              f"negative {c['mean_other']:+.3f}")  # fmt: skip
    best = found["cells"][0]
    for value in (-1.0, 1.0):
        answer = views.sentiment_ablate(explorer, {
            "model": st, "text": "a gorgeous , witty film , though the ending is not good",
            "cell": {"layer": best["layer"], "unit": best["unit"]}, "value": value,
            "examples": examples})  # fmt: skip
        print(f"  ablate best cell, clamp {value:+}: {answer['over_examples']}")
        print(f"    sentence: base {answer['base']}, zeroed {answer['zeroed']}, "
              f"clamped {answer['clamped']}")  # fmt: skip
    # a non-finding check: the same search against a label unrelated to sentiment
    long = [[t, "1" if len(t.split()) > 20 else "0"] for t, _ in examples]
    other = views.sentiment_cells(explorer, {"model": st, "examples": long, "label": "1"})
    print(f"  control, 'more than 20 words' as the label: best r "
          f"{other['cells'][0]['correlation']:+.3f}, chance {other['chance']:.3f}, "
          f"verdict {other['verdict']}")  # fmt: skip

    print("== select and match")
    raw = Path(corpus).read_text(encoding="utf-8")
    text = raw[-4000:]
    speaker = re.search(r"\n\n([A-Z][A-Za-z ]+):\n", text)
    start, end = speaker.start(1), speaker.end(1)
    for threshold in (0.3, 0.5):
        body = {"model": tg, "text": text, "layer": 1, "kind": "h", "threshold": threshold,
                "start": start, "end": end}
        answer = views.match(explorer, body)
        print(f"span {text[start:end]!r} threshold {threshold}: "
              f"{len(answer['selection']['cells'])} cells on")  # fmt: skip
        for m in answer["matches"][:10]:
            context = text[max(0, m["start"] - 3) : m["end"] + 3]
            print(f"  {m['score']:.3f} {m['shared']}/{m['missing']}/{m['extra']} {context!r}")

    print("== steering")
    trace = explorer._trace(models[tg], text)
    found = search_cells(trace.layers[1:], pattern_signal(text, position="line"), kinds=("h",),
                         top=3, shuffles=0)  # fmt: skip
    cell = found["cells"][0]
    print(f"line-position cell: layer 1 h unit {cell['unit']}, r = {cell['correlation']:+.3f}")
    for value in (-1.0, 1.0):
        free, steered, changed = [], [], []
        for seed in range(5):
            answer = views.steer(explorer, {"model": tg, "prime": "\n", "length": 1000,
                                            "seed": seed, "temperature": 0.8,
                                            "cell": {"layer": 1, "unit": cell["unit"]},
                                            "value": value})  # fmt: skip
            free.append(line_lengths(answer["free"]))
            steered.append(line_lengths(answer["steered"]))
            changed.append(answer["changed"])
        print(f"  clamp {value:+}: mean line length free {np.nanmean(free):.1f}, "
              f"steered {np.nanmean(steered):.1f}; characters changed {changed}")  # fmt: skip
    print("  example (seed 0, clamp +1):", repr(answer["steered"][:300]))


if __name__ == "__main__":
    main(*sys.argv[1:5])
