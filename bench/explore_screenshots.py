"""Screenshots of every explorer view (docs/images/explore-*.png) with headless Chromium.

    python bench/explore_screenshots.py TEXTGEN_RUN SENTIMENT_RUN [--out docs/images]
        [--prime TEXT] [--pattern NAME] [--weak-pattern NAME] [--match-word WORD]
        [--sentence TEXT] [--labels 0=negative,1=positive] [--labelled FILE]
        [--longrange-run RUN --longrange-text CORPUS]
    python bench/explore_screenshots.py --imdb-text TRAIN_TSV_GZ OUT

Starts ``rnnkit explore`` on a free loopback port, drives Debian's chromium through
Selenium (/usr/bin/chromium, /usr/bin/chromedriver) at 1400x900, and saves one PNG per
view, each cropped to its panel (a PNG over 150 KB is reduced to a palette). It
prints what each view says (the verdicts, the best cells, the matches), the numbers
that docs/explore.md quotes. A tool a maintainer reruns, not a test.

Last run 2026-12-06 (2-core machine shared with other work), on three runs trained
for it from the CLI, data read from ../shared/data (never copied into the repository):

    rnnkit textgen train ../shared/data/tinyshakespeare/input.txt --out /tmp/shots-tg \\
        --hidden-size 128 --num-layers 2 --minutes 4 --eval-every 100
    rnnkit sentiment train --train ../shared/data/sst2/stsa.binary.train \\
        --valid ../shared/data/sst2/stsa.binary.dev --out /tmp/shots-sst --minutes 4
    # the long-range view needs brackets and quotes, which Tiny Shakespeare has none of:
    # the first 3 MB of IMDB's training reviews as plain text (<br /> tags to newlines)
    python bench/explore_screenshots.py --imdb-text ../shared/data/imdb/train.tsv.gz \\
        /tmp/shots-imdb.txt
    rnnkit textgen train /tmp/shots-imdb.txt --out /tmp/shots-imdb \\
        --hidden-size 128 --num-layers 2 --minutes 4 --eval-every 100
    python bench/explore_screenshots.py /tmp/shots-tg /tmp/shots-sst \\
        --labels 0=negative,1=positive --labelled ../shared/data/sst2/stsa.binary.dev \\
        --longrange-run /tmp/shots-imdb --longrange-text /tmp/shots-imdb.txt
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1400,900", "--hide-scrollbars"]  # fmt: skip
LIMIT = 150_000  # bytes per PNG before it is reduced to a palette

# the document rectangle covering every element the selectors match (page coordinates)
RECT_JS = """
let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
for (const sel of arguments[0]) for (const e of document.querySelectorAll(sel)) {
  const r = e.getBoundingClientRect();
  if (!r.width || !r.height) continue;
  x0 = Math.min(x0, r.left + scrollX); y0 = Math.min(y0, r.top + scrollY);
  x1 = Math.max(x1, r.right + scrollX); y1 = Math.max(y1, r.bottom + scrollY);
}
return x0 === Infinity ? null : [x0, y0, x1, y1];
"""


def imdb_text(source: str, out: str, size: int = 3_000_000) -> None:
    """The first ``size`` characters of IMDB reviews (label, rating, id, text rows) as text."""
    import gzip

    reviews, total = [], 0
    with gzip.open(source, "rt", encoding="utf-8") as f:
        next(f)  # the header
        for row in f:
            text = row.rstrip("\n").split("\t", 3)[3]
            reviews.append(text.replace("<br /><br />", "\n").replace("<br />", " "))
            total += len(reviews[-1])
            if total > size:
                break
    Path(out).write_text("\n\n".join(reviews), encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*")
    p.add_argument("--imdb-text", nargs=2, metavar=("TRAIN_TSV_GZ", "OUT"),
                   help="write the long-range corpus from IMDB's reviews and exit")  # fmt: skip
    p.add_argument("--out", default="docs/images")
    p.add_argument("--prime", default="KING HENRY:\n")
    p.add_argument("--pattern", default="position in the line", help="the cell search to show")
    p.add_argument(
        "--weak-pattern",
        default="first character of a line",
        help="a second search, shown for its verdict (the honest non-finding)",
    )
    p.add_argument("--match-word", help="the span to brush in Match (default: the most frequent "
                   "speaker name at a line start in the Cells text)")  # fmt: skip
    p.add_argument("--match-layer", type=int, default=1)
    p.add_argument("--match-threshold", type=float, default=0.3)
    p.add_argument("--steer-value", type=float, default=-1.0)
    p.add_argument("--sentence", default="a gorgeous , witty film , though the ending is not good")
    p.add_argument("--labels", help="names for the classifier's labels (rnnkit explore --labels)")
    p.add_argument("--labelled", help="labelled sentences for the sentiment-cell search "
                   "(the first 1,000 lines; SST-2's stsa.binary.dev has 872)")  # fmt: skip
    p.add_argument("--ablate-value", type=float, default=-1.0)
    p.add_argument("--longrange-run", help="a text model for the long-range view, trained on "
                   "a corpus with brackets and quotes")  # fmt: skip
    p.add_argument("--longrange-text", help="its corpus: the long-range view reads 4,000 "
                   "characters of its held-out tail (from 90%% of the file)")  # fmt: skip
    args = p.parse_args()
    if args.imdb_text:
        imdb_text(*args.imdb_text)
        return 0
    if not args.runs:
        p.error("give a text-model run (and a classifier's)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = args.runs + ([args.longrange_run] if args.longrange_run else [])
    command = [sys.executable, "-m", "rnnkit.cli", "explore", *runs, "--port", "0"]
    if args.labels:
        command += ["--labels", args.labels]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    url = re.search(r"(http://\S+/)", proc.stdout.readline()).group(1)
    profile = tempfile.mkdtemp(prefix="rnnkit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    service = Service(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    wait = WebDriverWait(driver, 120)

    def tab(view):
        driver.find_element(By.CSS_SELECTOR, f'#tabs button[data-view="{view}"]').click()

    def js_set(element_id, value, event="change"):
        driver.execute_script(
            "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
            "e.dispatchEvent(new Event(arguments[2]));",
            element_id,
            str(value),
            event,
        )

    def text_of(element_id):
        return driver.find_element(By.ID, element_id).text

    def shot(name, *selectors, max_height=1100, max_width=1400):
        """Crop the page to the elements' box (plus a margin) and save it."""
        time.sleep(0.5)
        box = driver.execute_script(RECT_JS, list(selectors))
        if box is None:
            raise RuntimeError(f"{name}: nothing on the page matches {selectors}")
        x0, y0, x1, y1 = box
        x0, y0 = max(0, x0 - 8), max(0, y0 - 8)
        width, height = min(max_width, x1 + 8) - x0, min(max_height, y1 + 8 - y0)
        png = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": x0, "y": y0, "width": width, "height": height, "scale": 1},
            },
        )["data"]
        data = png_bytes = base64.b64decode(png)
        for colours in (256, 64):  # a PNG over the limit: to a palette, a smaller one if need be
            if len(data) <= LIMIT:
                break
            from PIL import Image

            image = Image.open(io.BytesIO(png_bytes)).convert("RGB").quantize(colours)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", optimize=True)
            data = buffer.getvalue()
        path = out / f"explore-{name}.png"
        path.write_bytes(data)
        print(f"wrote {path} ({len(data) // 1024} KB, {int(width)}x{int(height)})")

    def search(pattern):
        Select(driver.find_element(By.ID, "pattern-preset")).select_by_visible_text(pattern)
        old = driver.find_elements(By.ID, "cells-verdict")
        driver.find_element(By.ID, "find-btn").click()
        wait.until(
            lambda d: d.find_element(By.ID, "error").is_displayed()
            or (d.find_elements(By.ID, "cells-verdict")
                and (not old or d.find_element(By.ID, "cells-verdict") != old[0]))
        )  # fmt: skip
        if driver.find_element(By.ID, "error").is_displayed():
            raise RuntimeError(f"cell search {pattern!r}: {text_of('error')}")
        rows = driver.find_elements(By.CSS_SELECTOR, "#cells-results table.results tr.pick")
        cells = [[td.text for td in r.find_elements(By.TAG_NAME, "td")[:5]] for r in rows]
        print(f"cell search {pattern!r}: {text_of('find-status')}\n  {text_of('cells-verdict')}")
        for c in cells[:5]:
            print("  layer {} {} cell {}: r = {} (above chance: {})".format(*c))
        return cells

    try:
        driver.get(url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#textgen-model option"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sentiment-model option"))

        # Generate, with the guesses after one character (hovered)
        js_set("prime", args.prime, "input")
        driver.find_element(By.ID, "generate-btn").click()
        wait.until(lambda d: d.find_element(By.ID, "gen-status").text.startswith("done"))
        spans = driver.find_elements(By.CSS_SELECTOR, "#gen-output span.ch")
        webdriver.ActionChains(driver).move_to_element(spans[len(spans) // 3]).perform()
        shot("generate", "#view-generate > .controls", "#view-generate > .split")

        # Cells: the search that finds a cell, that cell's colouring, surprise and guesses
        tab("cells")
        wait.until(lambda d: d.find_element(By.ID, "cells-output").get_attribute("data-cell"))
        cells = search(args.pattern)
        layer, kind, unit = cells[0][0], "tanh_c" if cells[0][1] == "tanh(c)" else "h", cells[0][2]
        shot(
            "cells-search",
            "#view-cells h3:first-of-type",
            "#view-cells .controls:has(#find-btn)",
            "#pattern-about",
            "#cells-verdict",
            "#cells-results table.results",
            max_height=760,
        )
        js_set("cell-layer", layer)
        js_set("cell-kind", kind)
        js_set("cell-unit", unit)
        wait.until(lambda d: d.find_element(By.ID, "cells-output")
                   .get_attribute("data-cell") == f"{layer}/{kind}/{unit}")  # fmt: skip
        spans = driver.find_elements(By.CSS_SELECTOR, "#cells-output span.ch")
        webdriver.ActionChains(driver).move_to_element(spans[40]).perform()
        shot("cells", ".cell-pick", "#view-cells > .split", max_height=600)
        steer_cell = next((c for c in cells if c[1] == "h"), None)
        weak = search(args.weak_pattern)
        del weak
        shot(
            "cells-search-weak",
            "#view-cells .controls:has(#find-btn)",
            "#cells-verdict",
            "#cells-results table.results tr:nth-child(-n+4)",
            max_height=400,
        )
        driver.find_element(By.ID, "colour-surprise").click()
        driver.find_element(By.ID, "show-strip").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-output .col"))
        shot("surprise", ".cell-pick", "#cells-output", max_height=560)
        driver.find_element(By.ID, "colour-surprise").click()
        driver.find_element(By.ID, "show-strip").click()

        # Gates
        tab("gates")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#gates-output svg circle"))
        shot("gates", "#view-gates")

        # Match: brush a speaker's name, rank the other spans
        text = driver.find_element(By.ID, "cells-text").get_attribute("value")
        word = (
            args.match_word
            or Counter(re.findall(r"(?m)^([A-Z][A-Z]+):", text)).most_common(1)[0][0]
        )
        start = text.index(word)
        tab("match")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#match-chart polyline.cell"))
        js_set("match-layer", args.match_layer)
        js_set("match-threshold", args.match_threshold)
        js_set("match-from", max(0, start - 10))
        js_set("match-start", start, "input")
        js_set("match-end", start + len(word), "input")
        driver.find_element(By.ID, "match-btn").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#match-results p"))
        wait.until(
            lambda d: d.find_element(By.ID, "match-plot").get_attribute("data-pending") == "0"
        )
        print(f"match {word!r} (characters {start}-{start + len(word)}, "
              f"layer {args.match_layer} h, threshold "
              f"{driver.find_element(By.ID, 'match-threshold').get_attribute('value')}): "
              f"{text_of('match-status')}")  # fmt: skip
        for r in driver.find_elements(By.CSS_SELECTOR, "#match-table tr.match-row")[:6]:
            print("  " + " | ".join(td.text for td in r.find_elements(By.TAG_NAME, "td")))
        shot(
            "match",
            "#view-match > .controls",
            "#match-plot",
            "#match-results",
            max_height=640,
            max_width=1040,
        )

        # Steer: the line-position h cell clamped while sampling
        tab("generate")
        if steer_cell:
            js_set("steer-layer", steer_cell[0], "input")
            js_set("steer-unit", steer_cell[2], "input")
        js_set("steer-value", args.steer_value, "input")
        js_set("length", 400, "input")
        driver.find_element(By.ID, "steer-btn").click()
        wait.until(lambda d: d.find_elements(By.ID, "steer-summary"))
        print(f"steer layer {steer_cell and steer_cell[0]} cell {steer_cell and steer_cell[2]} "
              f"at {args.steer_value}: {text_of('steer-summary')}")  # fmt: skip
        shot("steer", "#steer-section")

        # Sentiment: the verdict, the cells word by word, the sentiment-cell search, ablation
        tab("sentiment")
        js_set("sent-text", args.sentence, "input")
        driver.find_element(By.ID, "classify-btn").click()
        wait.until(lambda d: d.find_elements(By.ID, "sent-chart"))
        wait.until(lambda d: d.find_elements(By.ID, "states-heat"))
        print(f"sentiment: {text_of('sent-result').splitlines()[:2]}")
        shot("sentiment", "#view-sentiment > .controls", "#sent-result")
        shot(
            "sentiment-states", "#view-sentiment > h3:first-of-type", "#sent-states", max_height=700
        )
        if args.labelled:
            status = driver.find_element(By.ID, "sentcells-status")
            driver.find_element(By.ID, "labelled-file").send_keys(
                str(Path(args.labelled).resolve())
            )
            wait.until(lambda d: "lines" in status.text)  # read by the browser, cut to fit
            print(f"labelled file: {status.text}")
            driver.find_element(By.ID, "sentcells-btn").click()
            wait.until(lambda d: d.find_elements(By.ID, "sentcells-verdict"))
            print(
                f"sentiment cells: {text_of('sentcells-status')}\n  {text_of('sentcells-verdict')}"
            )
            rows = driver.find_elements(By.CSS_SELECTOR, "#sentcells-table tr.pick")
            for r in rows[:5]:
                print("  " + " | ".join(td.text for td in r.find_elements(By.TAG_NAME, "td")))
            shot(
                "sentiment-cells",
                "#view-sentiment .live-only > h3:first-of-type",
                "#view-sentiment .controls:has(#sentcells-btn)",
                "#sentcells-results",
            )
            js_set("ablate-value", args.ablate_value, "input")
            rows[0].click()
            wait.until(
                lambda d: (
                    d.find_elements(By.CSS_SELECTOR, "#ablate-table tr[data-way]")
                    or d.find_element(By.ID, "error").is_displayed()
                )
            )
            if driver.find_element(By.ID, "error").is_displayed():
                raise RuntimeError(f"ablation: {text_of('error')}")
            for r in driver.find_elements(By.CSS_SELECTOR, "#ablate-table tr[data-way]"):
                print(
                    "  ablation: "
                    + " | ".join(td.text for td in r.find_elements(By.TAG_NAME, "td"))
                )
            print("  " + text_of("ablate-over"))
            shot(
                "ablation",
                "#view-sentiment .live-only > h3:last-of-type",
                "#view-sentiment .controls:has(#ablate-btn)",
                "#ablate-results",
            )

        # Long-range, on a text model whose corpus has brackets and quotes
        if args.longrange_run and args.longrange_text:
            name = Path(args.longrange_run).name
            corpus = Path(args.longrange_text).read_text(encoding="utf-8")
            text = corpus[int(0.9 * len(corpus)) :][:4000]
            tab("cells")
            before = driver.find_element(By.ID, "cells-text").get_attribute("value")
            js_set("textgen-model", name)  # the Cells text becomes this model's sample
            wait.until(
                lambda d: d.find_element(By.ID, "cells-text").get_attribute("value") != before
            )
            js_set("cells-text", text, "input")
            driver.find_element(By.ID, "trace-btn").click()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cells-output span.ch"))
                       == len(text))  # fmt: skip
            driver.find_element(By.ID, "longrange-btn").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#longrange-output > *"))
            print(f"long-range ({name}): {text_of('longrange-output')}")
            shot("longrange", "#view-cells h3:last-of-type",
                 "#view-cells .controls:has(#longrange-btn)", "#longrange-output")  # fmt: skip
            js_set("textgen-model", Path(args.runs[0]).name)

        # Gradient flow, of the text model
        tab("gradients")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#grad-chart polyline"))
        shot("gradients", "#view-gradients")
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        print("console errors:", errors or "none")
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
