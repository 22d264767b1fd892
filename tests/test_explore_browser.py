"""The explorer page in a real browser: Debian's headless Chromium driven by Selenium.

Selenium is given /usr/bin/chromium and /usr/bin/chromedriver explicitly, so it
never looks for (or downloads) a browser of its own. Skips with the reason when
either is missing (``apt-get install -y chromium chromium-driver``).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from explore_models import train_sentiment, train_textgen
from test_explore_server import start_server

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1400,900"]  # fmt: skip

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("no /usr/bin/chromium and /usr/bin/chromedriver "
                "(apt-get install -y chromium chromium-driver)",
                allow_module_level=True)  # fmt: skip
pytest.importorskip("selenium", reason="selenium is not installed (pip install 'rnnkit[test]')")
pytest.importorskip("uvicorn", reason="the 'explore' extra is not installed")

from selenium import webdriver  # noqa: E402
from selenium.webdriver import ActionChains  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


def make_driver(profile: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    train_textgen(root / "tg", steps=30)
    train_sentiment(root / "st", epochs=20)
    return root


@pytest.fixture(scope="module")
def page(runs):
    proc, base = start_server([runs / "tg", runs / "st"])
    profile = tempfile.mkdtemp(prefix="rnnkit-chromium-")
    driver = make_driver(profile)
    try:
        driver.get(base)
        yield driver
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver, condition, timeout=30):
    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def tab(driver, view):
    driver.find_element(By.CSS_SELECTOR, f'#tabs button[data-view="{view}"]').click()


def test_generate_streams_text_with_guesses(page):
    tab(page, "generate")
    prime = page.find_element(By.ID, "prime")
    prime.clear()
    prime.send_keys("def ")
    length = page.find_element(By.ID, "length")
    length.clear()
    length.send_keys("80")
    page.find_element(By.ID, "generate-btn").click()
    wait(page, lambda d: d.find_element(By.ID, "gen-status").text.startswith("done"))
    spans = page.find_elements(By.CSS_SELECTOR, "#gen-output span.ch")
    assert len(spans) == 80
    assert page.find_element(By.CSS_SELECTOR, "#gen-output .prime").text.strip() == "def"
    ActionChains(page).move_to_element(spans[5]).perform()
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#gen-guesses .guess")) == 5)
    # why two primes with one seed can end in the same text: said under the output
    note = page.find_element(By.ID, "seed-note")
    assert note.is_displayed() and "forgotten its prime" in note.text


def test_pick_a_cell_and_the_colouring_changes(page):
    tab(page, "cells")
    wait(
        page, lambda d: d.find_element(By.ID, "cells-output").get_attribute("data-cell") is not None
    )

    def colours(d):
        return [s.value_of_css_property("background-color")
                for s in d.find_elements(By.CSS_SELECTOR,
                                         "#cells-output span.ch")[:200]]  # fmt: skip

    before = colours(page)
    assert len(before) > 50
    unit = page.find_element(By.ID, "cell-unit")
    unit.clear()
    unit.send_keys("7")
    Select(page.find_element(By.ID, "cell-kind")).select_by_value("tanh_c")  # fires change
    wait(
        page,
        lambda d: d.find_element(By.ID, "cells-output").get_attribute("data-cell") == "0/tanh_c/7",
    )
    assert colours(page) != before


def find(page, preset, regex=None):
    tab(page, "cells")
    Select(page.find_element(By.ID, "pattern-preset")).select_by_visible_text(preset)
    if regex is not None:
        box = page.find_element(By.ID, "pattern-regex")
        box.clear()
        box.send_keys(regex)
    old = page.find_elements(By.ID, "cells-verdict")
    page.find_element(By.ID, "find-btn").click()
    if old:  # new results replace the old ones, or an error says why not
        wait(page, lambda d: not _attached(old[0]) or d.find_element(By.ID, "error").is_displayed())


def _attached(element) -> bool:
    try:
        element.is_displayed()
        return True
    except Exception:  # StaleElementReferenceException: replaced by the new results
        return False


def test_cell_search_lists_ranked_cells_with_a_verdict_and_the_pattern(page):
    find(page, "inside parentheses")
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cells-results tr.pick")) == 10)
    rows = page.find_elements(By.CSS_SELECTOR, "#cells-results tr.pick")
    values = [abs(float(r.find_elements(By.TAG_NAME, "td")[3].text)) for r in rows]
    assert values == sorted(values, reverse=True) and values[0] > 0
    # every ranked cell with its activation strip, the pattern drawn under it
    assert len(page.find_elements(By.CSS_SELECTOR, "#cells-results tr.pick canvas.strip")) == 10
    verdict = page.find_element(By.ID, "cells-verdict")
    assert "chance level" in verdict.text
    assert verdict.get_attribute("class").split()[-1] in ("none", "weak", "clear")
    tops = page.find_elements(By.CSS_SELECTOR, "#cells-results .top-cell")
    assert len(tops) == 3
    # the characters the pattern marks are underlined on the text: exactly those in ( )
    spans = tops[0].find_elements(By.CSS_SELECTOR, "span.ch")
    text = "".join("\n" if "nl" in s.get_attribute("class") else s.text for s in spans)
    marked = [("match" in s.get_attribute("class")) for s in spans]
    assert text == page.execute_script("return document.getElementById('cells-text').value")
    from rnnkit.explore.cells import bracket_mask

    assert marked == [bool(v) for v in bracket_mask(text, "()")] and any(marked)


def test_a_pattern_no_cell_tracks_is_said_plainly(page):
    """The letter d in the toy model's text: its best cell (|r| about 0.38) is under the chance
    level (about 0.50), and the page says so instead of showing a confident table."""
    find(page, "custom regex", "d")
    wait(page, lambda d: d.find_elements(By.ID, "cells-verdict"))
    verdict = page.find_element(By.ID, "cells-verdict")
    assert verdict.get_attribute("class").split() == ["verdict", "none"]
    assert verdict.text.startswith("No cell tracks this pattern: the best |r| = ")
    best, chance = (float(x) for x in re.findall(r"\|r\| = ([0-9.]+)", verdict.text)[:2])
    assert best <= chance
    rows = page.find_elements(By.CSS_SELECTOR, "#cells-results tr.pick")
    assert {r.find_element(By.CSS_SELECTOR, "td.above").text for r in rows} == {"no"}
    assert all("chance" in r.get_attribute("class") for r in rows)  # greyed out


def test_an_error_stays_on_its_own_tab(page):
    find(page, "custom regex", "(")
    wait(page, lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "regex" in page.find_element(By.ID, "error").text
    logged = [e for e in page.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]  # drained
    assert all("/api/cells" in e["message"] and "400" in e["message"] for e in logged), logged
    tab(page, "generate")
    assert not page.find_element(By.ID, "error").is_displayed()
    tab(page, "sentiment")
    assert not page.find_element(By.ID, "error").is_displayed()
    tab(page, "cells")
    assert page.find_element(By.ID, "error").is_displayed()  # still this tab's error
    find(page, "inside parentheses")
    wait(page, lambda d: not d.find_element(By.ID, "error").is_displayed())


def test_results_of_an_old_text_are_marked_out_of_date(page):
    find(page, "inside parentheses")
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-results tr.pick"))
    assert not page.find_element(By.ID, "stale-note").is_displayed()
    box = page.find_element(By.ID, "cells-text")
    original = box.get_attribute("value")
    box.send_keys(" (x)")  # editing alone already marks them
    assert page.find_element(By.ID, "stale-note").is_displayed()
    page.find_element(By.ID, "trace-btn").click()
    wait(page, lambda d: "characters" in d.find_element(By.ID, "trace-status").text)
    assert page.find_element(By.ID, "stale-note").is_displayed()
    assert "stale" in page.find_element(By.ID, "cells-results").get_attribute("class")
    find(page, "inside parentheses")
    results = page.find_element(By.ID, "cells-results")
    wait(page, lambda d: "stale" not in results.get_attribute("class"))
    assert not page.find_element(By.ID, "stale-note").is_displayed()
    page.execute_script("const b = document.getElementById('cells-text'); b.value = arguments[0];"
                        "b.dispatchEvent(new Event('input'));", original)  # fmt: skip
    page.find_element(By.ID, "trace-btn").click()
    wait(page, lambda d: d.find_element(By.ID, "stale-note").is_displayed())


def test_clicking_a_result_shows_the_recoloured_text(page):
    find(page, "inside parentheses")
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cells-results tr.pick")) == 10)
    row = page.find_elements(By.CSS_SELECTOR, "#cells-results tr.pick")[4]
    layer, kind, unit = (td.text for td in row.find_elements(By.TAG_NAME, "td")[:3])
    kind = "tanh_c" if kind == "tanh(c)" else kind
    page.execute_script("arguments[0].scrollIntoView({block: 'end'})", row)
    page.execute_script("arguments[0].click()", row)
    cell = f"{layer}/{kind}/{unit}"
    wait(page, lambda d: d.find_element(By.ID, "cells-output").get_attribute("data-cell") == cell)
    top, bottom, height = page.execute_script(
        "const r = document.getElementById('cells-output').getBoundingClientRect();"
        "return [r.top, r.bottom, window.innerHeight];"
    )
    assert top < height and bottom > 0, (top, bottom, height)  # the recoloured text is in view


def test_hovering_in_cells_fills_the_cells_guesses_not_generates(page):
    tab(page, "generate")
    before = page.find_element(By.ID, "gen-guesses").get_attribute("innerHTML")
    tab(page, "cells")
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-output span.ch"))
    span = page.find_elements(By.CSS_SELECTOR, "#cells-output span.ch")[3]
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", span)
    ActionChains(page).move_to_element(span).perform()
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cells-guesses .guess")) == 5)
    assert page.find_element(By.ID, "gen-guesses").get_attribute("innerHTML") == before


def test_surprise_colouring_and_the_guesses_strip(page):
    tab(page, "cells")
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-output span.ch"))
    chars = page.execute_script("return document.querySelectorAll('#cells-output span.ch').length")
    page.find_element(By.ID, "colour-surprise").click()
    wait(page, lambda d: d.find_element(By.ID, "cells-output").get_attribute("data-colour")
         == "surprise")  # fmt: skip
    spans = page.find_elements(By.CSS_SELECTOR, "#cells-output span.ch")
    assert "first character" in spans[0].get_attribute("title")
    bits = [float(s.get_attribute("title").split()[1]) for s in spans[1:40]]
    assert all(b >= 0 for b in bits) and len(set(bits)) > 1
    assert page.find_element(By.ID, "surprise-legend").is_displayed()
    page.find_element(By.ID, "show-strip").click()
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-output .col"))
    cols = page.find_elements(By.CSS_SELECTOR, "#cells-output .col")
    assert len(cols) == chars
    assert len(cols[10].find_elements(By.CSS_SELECTOR, "span.g")) == 5
    page.find_element(By.ID, "colour-surprise").click()
    page.find_element(By.ID, "show-strip").click()
    output = page.find_element(By.ID, "cells-output")
    wait(page, lambda d: output.get_attribute("data-colour") == "cell")
    assert not page.find_elements(By.CSS_SELECTOR, "#cells-output .col")


def test_long_range_accuracy_against_distance(page):
    tab(page, "cells")
    page.find_element(By.ID, "longrange-btn").click()
    wait(page, lambda d: d.find_elements(By.ID, "longrange-chart"))
    assert page.find_elements(By.CSS_SELECTOR, "#longrange-chart rect.acc")
    assert "distance from the opening" in page.find_element(By.ID, "longrange-chart").text


def test_gates_one_panel_per_gate_with_labelled_axes(page):
    tab(page, "cells")
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-output span.ch"))
    tab(page, "gates")
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#gates-output svg.gate-plot")) == 6)
    for plot in page.find_elements(By.CSS_SELECTOR, "#gates-output svg.gate-plot"):
        assert len(plot.find_elements(By.TAG_NAME, "circle")) == 16  # one gate's units only
        assert plot.find_element(By.CSS_SELECTOR, "text.y-label").text == "fraction of steps > 0.9"
        assert plot.find_element(By.CSS_SELECTOR, "text.x-label").text == "fraction of steps < 0.1"


def test_classify_a_sentence(page):
    tab(page, "sentiment")
    box = page.find_element(By.ID, "sent-text")
    box.clear()
    box.send_keys("i really enjoyed this wonderful film")
    page.find_element(By.ID, "classify-btn").click()
    wait(page, lambda d: d.find_elements(By.ID, "sent-label"))
    label = page.find_element(By.CSS_SELECTOR, "#sent-label b").text
    assert label in ("negative", "positive")  # the data's neg / pos, by name
    words = page.find_elements(By.CSS_SELECTOR, "#sent-words span")
    assert len(words) == 6 and "log-odds" in words[0].get_attribute("title")
    assert len(page.find_elements(By.CSS_SELECTOR, "#sent-chart polyline")) == 1
    assert page.find_element(By.ID, "sent-legend").text == f"P({label})"  # beside the chart
    assert page.find_element(By.CSS_SELECTOR, "#sent-chart text.y-label").text == "probability"
    # the last word on the x axis lies inside the chart
    right, width = page.execute_script(
        "const w = [...document.querySelectorAll('#sent-chart text.word')].pop().getBBox();"
        "return [w.x + w.width, document.getElementById('sent-chart').width.baseVal.value];"
    )
    assert right <= width


def test_gradient_flow_and_no_console_errors(page):
    tab(page, "gradients")
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grad-chart polyline")) == 4)
    assert page.find_element(By.ID, "grad-y-label").text == "||dL/dh_t||, log scale"
    # the y label lies left of the tick labels, which lie left of the plot area
    label, ticks = page.execute_script(
        "const l = document.getElementById('grad-y-label').getBoundingClientRect();"
        "const t = [...document.querySelectorAll('#grad-chart text')].filter("
        "  (e) => e.textContent.startsWith('1e')).map((e) => e.getBoundingClientRect().right);"
        "const r = document.querySelector('#grad-chart rect').getBoundingClientRect();"
        "const t0 = Math.min(...[...document.querySelectorAll('#grad-chart text')].filter("
        "  (e) => e.textContent.startsWith('1e')).map((e) => e.getBoundingClientRect().left));"
        "return [[l.left, l.right, r.left, t0], Math.max(...t)];")
    assert label[1] <= label[3] + 1 and ticks <= label[2] + 1, (label, ticks)
    assert page.find_element(By.ID, "error").get_attribute("hidden") is not None
    errors = [e for e in page.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors


def test_the_report_offers_only_what_works_offline(runs, tmp_path):
    from rnnkit.cli import main
    from rnnkit.explore.cells import PRESETS, pattern_signal

    out = tmp_path / "report.html"
    assert main(["explore", str(runs / "tg"), str(runs / "st"), "--html", str(out)]) == 0
    profile = tempfile.mkdtemp(prefix="rnnkit-chromium-")
    driver = make_driver(profile)
    try:
        driver.get(out.as_uri())
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#pattern-preset option"))
        offered = [o.get_attribute("value")
                   for o in driver.find_elements(By.CSS_SELECTOR, "#pattern-preset option")]
        text = driver.execute_script("return document.getElementById('cells-text').value")
        occurring = [n for n in PRESETS if len(set(pattern_signal(text, preset=n))) > 1]
        assert offered == occurring and "inside braces" not in offered
        for name in offered:  # every pattern offered answers
            find(driver, name)
            wait(driver, lambda d: d.find_elements(By.ID, "cells-verdict"))
            assert not driver.find_element(By.ID, "error").is_displayed()
        # surprise, the guesses strip and the long-range view work offline
        driver.find_element(By.ID, "colour-surprise").click()
        driver.find_element(By.ID, "show-strip").click()
        output = driver.find_element(By.ID, "cells-output")
        wait(driver, lambda d: output.get_attribute("data-colour") == "surprise")
        cols = driver.find_elements(By.CSS_SELECTOR, "#cells-output .col")
        assert cols and len(cols[10].find_elements(By.CSS_SELECTOR, "span.g")) == 5
        driver.find_element(By.ID, "longrange-btn").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#longrange-chart rect.acc"))
        tab(driver, "generate")
        assert not driver.find_element(By.ID, "generate-btn").is_displayed()
        assert not driver.find_element(By.ID, "prime").is_displayed()
        assert driver.find_elements(By.CSS_SELECTOR, "#gen-output span.ch")
        tab(driver, "sentiment")
        assert not driver.find_element(By.ID, "classify-btn").is_displayed()
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

