"""The explorer's measured finding: the cell search over a run's validation text, every pattern.

    python bench/explore_finding.py RUN_DIR [--chars 4000]

For a text-generator run trained on the built-in corpus (or a file): the best
three cells of every preset pattern and of the line position, ranked by |r|,
and the mean gate saturation per layer. Prints a table (docs/explore.md).
"""

from __future__ import annotations

import argparse
import sys

from rnnkit.explore.api import ApiError, Explorer
from rnnkit.explore.cells import PRESETS
from rnnkit.explore.models import load_models
from rnnkit.text.corpus import split_tail


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--chars", type=int, default=4000)
    args = p.parse_args()
    explorer = Explorer(load_models([args.run]))
    (model,) = explorer.models.values()
    lm = model.app
    corpus = lm._training_text(None)  # the run's corpus, from where it found it
    _, val = split_tail(lm.vocab.encode(corpus), lm.settings.val_fraction)
    text = lm.vocab.decode(val[: args.chars])
    for name in PRESETS:
        body = {"model": model.name, "text": text, "top": 3, "shown": 0, "preset": name}
        try:
            found = explorer.cells(body)
        except ApiError as exc:
            print(f"{name:28s} {exc.message}")
            continue
        cells = ", ".join(f"layer {c['layer']} {c['kind']} #{c['unit']} r={c['correlation']:+.3f}"
                          for c in found["cells"])  # fmt: skip
        print(f"{name:28s} covers {found['matched']:.3f}, chance level |r| {found['chance']:.3f}, "
              f"{found['verdict']}: {cells}")
    trace = explorer.trace({"model": model.name, "text": text})
    for layer in trace["gates"]:
        means = {g: (sum(v["left"]) / len(v["left"]), sum(v["right"]) / len(v["right"]))
                 for g, v in layer["gates"].items()}  # fmt: skip
        print(f"layer {layer['layer']} gates, mean fraction <0.1 / >0.9: "
              + ", ".join(f"{g} {lo:.3f}/{hi:.3f}" for g, (lo, hi) in means.items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
