"""The probing views in a real browser (headless Chromium, as test_explore_browser):
select and match, steering, the classifier's cells and ablation, and what the report keeps."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from selenium.webdriver import ActionChains  # noqa: E402  (after the skip above)
from selenium.webdriver.common.by import By  # noqa: E402

from explore_models import SENTENCES, train_sentiment, train_textgen
from test_explore_browser import make_driver, tab, wait  # skips without Chromium
from test_explore_server import start_server


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-probe")
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
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-output span.ch"))
        yield driver
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def set_value(driver, element_id, value):
    box = driver.find_element(By.ID, element_id)
    box.clear()
    box.send_keys(str(value))


def test_match_brush_a_span_rank_matches_and_scroll_to_one(page):
    tab(page, "match")
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#match-chart polyline.cell")) == 16)
    assert page.find_element(By.CSS_SELECTOR, "#match-chart text.y-label").text == "h"
    page.execute_script("const t = document.getElementById('match-threshold'); t.value = '0';"
                        "t.dispatchEvent(new Event('change'));")  # one change: one redraw
    wait(page, lambda d: d.execute_script(
        "const l = document.querySelector('#match-chart line.threshold');"
        "return l && l.getAttribute('y1') === '120'"
        " && document.getElementById('match-plot').dataset.pending === '0';"))
    chart = page.find_element(By.ID, "match-chart")
    width = chart.size["width"]
    left = -width / 2 + 56 + 4  # the first character's column, from the chart's centre
    ActionChains(page).move_to_element_with_offset(chart, int(left + 9 * 20), 0).click_and_hold() \
        .move_by_offset(9 * 3, 0).release().perform()  # fmt: skip
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#match-table tr.match-row"))
    assert page.find_element(By.ID, "match-start").get_attribute("value") == "20"
    assert page.find_element(By.ID, "match-end").get_attribute("value") == "24"
    selected = page.find_elements(By.CSS_SELECTOR, "#match-chart polyline.selected")
    assert selected and "selected" in page.find_element(By.ID, "match-status").text.lower() or \
        "on over the span" in page.find_element(By.ID, "match-status").text  # fmt: skip
    rows = page.find_elements(By.CSS_SELECTOR, "#match-table tr.match-row")
    scores = [float(r.find_elements(By.TAG_NAME, "td")[1].text) for r in rows]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    target = rows[-1]
    start = int(target.get_attribute("data-start"))
    target.click()
    wait(page, lambda d: (d.find_element(By.ID, "match-text").get_attribute("data-current") or "")
         .startswith(f"{start}-"))  # fmt: skip
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#match-chart rect.found"))
    assert page.find_element(By.ID, "match-from").get_attribute("value") == str(max(0, start - 10))
    inside = page.execute_script(
        "const box = document.getElementById('match-text').getBoundingClientRect();"
        "const s = document.querySelector('#match-text span.current').getBoundingClientRect();"
        "return s.top >= box.top && s.bottom <= box.bottom;"
    )
    assert inside  # scrolled to the match


def test_steer_shows_the_free_and_the_clamped_text(page):
    tab(page, "generate")
    set_value(page, "prime", "def ")
    set_value(page, "length", "80")
    set_value(page, "steer-layer", "1")
    set_value(page, "steer-unit", "2")
    set_value(page, "steer-value", "1")
    page.find_element(By.ID, "steer-btn").click()
    wait(page, lambda d: d.find_elements(By.ID, "steer-summary"))
    columns = page.find_elements(By.CSS_SELECTOR, "#steer-output .steer-pair .text-out")
    assert len(columns) == 2
    free, steered = ("".join(s.get_attribute("textContent")
                             for s in c.find_elements(By.CSS_SELECTOR, "span.ch"))
                     for c in columns)  # fmt: skip
    assert len(free) == len(steered) == 80
    summary = page.find_element(By.ID, "steer-summary").text
    diffs = page.find_elements(By.CSS_SELECTOR, "#steer-output span.diff")
    if free != steered:
        assert "part at character" in summary and len(diffs) == sum(
            a != b for a, b in zip(free, steered, strict=True)
        )
    else:
        assert "changed nothing" in summary and not diffs
    page.find_element(By.ID, "steer-btn").click()  # the same seed: the same two texts
    wait(page, lambda d: not d.find_element(By.ID, "steer-btn").get_attribute("disabled"))
    again = page.find_elements(By.CSS_SELECTOR, "#steer-output .steer-pair .text-out")[1]
    assert "".join(s.get_attribute("textContent")
                   for s in again.find_elements(By.CSS_SELECTOR, "span.ch")) == steered  # fmt: skip


def test_classifier_cells_search_and_ablation(page):
    tab(page, "sentiment")
    set_value(page, "sent-text", "i love this film")
    page.find_element(By.ID, "classify-btn").click()
    wait(page, lambda d: d.find_elements(By.ID, "states-heat"))
    rows = int(page.find_element(By.ID, "states-heat").get_attribute("data-rows"))
    assert rows in (8, 16)  # one layer of 8 cells, both directions if bidirectional
    lines = "\n".join(f"{label}\t{text}" if i % 2 else f"{label} {text}"  # SST-2's form too
                      for i, (text, label) in enumerate(SENTENCES)) + "\nno label here"
    page.execute_script("document.getElementById('labelled-text').value = arguments[0]", lines)
    assert page.find_element(By.ID, "labelled-label").text.splitlines()[-1] == "positive"
    page.find_element(By.ID, "sentcells-btn").click()
    wait(page, lambda d: d.find_elements(By.ID, "sentcells-verdict"))
    verdict = page.find_element(By.ID, "sentcells-verdict")
    kind = verdict.get_attribute("class").split()[-1]
    assert kind in ("none", "weak", "clear")
    expected = {"none": "No cell tracks positive", "weak": "No cell clearly tracks positive",
                "clear": "track positive"}[kind]  # fmt: skip
    assert expected in verdict.text and "chance level" in verdict.text
    status = page.find_element(By.ID, "sentcells-status").text
    assert "8 sentences" in status and "1 line skipped" in status
    table_rows = page.find_elements(By.CSS_SELECTOR, "#sentcells-table tr.pick")
    assert 1 <= len(table_rows) <= 10
    table_rows[0].click()  # the best cell goes to ablation and is ablated
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#ablate-table tr[data-way]"))
    ways = [r.get_attribute("data-way")
            for r in page.find_elements(By.CSS_SELECTOR, "#ablate-table tr[data-way]")]  # fmt: skip
    assert ways == ["base", "zeroed", "clamped"]
    assert "Over the 8 labelled sentences" in page.find_element(By.ID, "ablate-over").text


def test_a_labelled_file_larger_than_a_request_is_cut_to_fit(page, tmp_path):
    tab(page, "sentiment")
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#labelled-label option"))
    words = " ".join(["this film is a wonderful and moving piece of work"] * 2)
    lines = [f"{'pos' if i % 2 else 'neg'}\t{words} {i}" for i in range(900)]  # ~ 100 KB
    path = tmp_path / "labelled.tsv"
    path.write_text("\n".join(lines) + "\n")
    page.find_element(By.ID, "labelled-file").send_keys(str(path))
    status = lambda d: d.find_element(By.ID, "sentcells-status").text  # noqa: E731
    wait(page, lambda d: "of the file's 900 lines" in status(d))
    kept = int(status(page).split()[2])
    assert 300 < kept < 900
    box = page.find_element(By.ID, "labelled-text")
    assert len(box.get_attribute("value").splitlines()) == kept
    page.find_element(By.ID, "sentcells-btn").click()  # the request fits: a verdict, no 413
    wait(page, lambda d: f"{kept} sentences" in d.find_element(By.ID, "sentcells-status").text)
    assert not page.find_element(By.ID, "error").is_displayed()


def test_probe_views_leave_no_console_errors(page):
    tab(page, "match")
    set_value(page, "match-start", "5")
    set_value(page, "match-end", "500")  # too long a span: a 4xx shown on this tab
    page.find_element(By.ID, "match-btn").click()
    wait(page, lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "end must be in" in page.find_element(By.ID, "error").text
    tab(page, "generate")
    assert not page.find_element(By.ID, "error").is_displayed()
    errors = [e for e in page.get_log("browser") if e["level"] in ("SEVERE", "ERROR")
              and "400 (Bad Request)" not in e["message"]]  # fmt: skip
    assert not errors, errors


def test_the_report_keeps_the_states_and_says_the_rest_is_live_only(runs, tmp_path):
    from rnnkit.cli import main

    out = tmp_path / "report.html"
    assert main(["explore", str(runs / "tg"), str(runs / "st"), "--html", str(out)]) == 0
    profile = tempfile.mkdtemp(prefix="rnnkit-chromium-")
    driver = make_driver(profile)
    try:
        driver.get(out.as_uri())
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#pattern-preset option"))
        tab(driver, "match")
        assert driver.find_element(By.ID, "match-live").is_displayed()
        assert not driver.find_element(By.ID, "match-btn").is_displayed()
        tab(driver, "generate")
        assert not driver.find_element(By.ID, "steer-btn").is_displayed()
        tab(driver, "sentiment")
        wait(driver, lambda d: d.find_elements(By.ID, "states-heat"))  # precomputed, offline
        assert driver.find_element(By.ID, "sent-live").is_displayed()
        assert not driver.find_element(By.ID, "sentcells-btn").is_displayed()
        assert not driver.find_element(By.ID, "ablate-btn").is_displayed()
        buttons = driver.find_elements(By.CSS_SELECTOR, "#view-sentiment .controls button")
        picks = [b for b in buttons if b.is_displayed()]
        picks[-1].click()
        wait(driver, lambda d: d.find_elements(By.ID, "states-heat"))
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
