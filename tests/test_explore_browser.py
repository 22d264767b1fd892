"""The explorer page in a real browser: Debian's headless Chromium driven by Selenium.

Selenium is given /usr/bin/chromium and /usr/bin/chromedriver explicitly, so it
never looks for (or downloads) a browser of its own. Skips with the reason when
either is missing (``apt-get install -y chromium chromium-driver``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from explore_models import train_sentiment, train_textgen
from test_explore_server import start_server

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1280,1000"]  # fmt: skip

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
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    train_textgen(root / "tg", steps=30)
    train_sentiment(root / "st", epochs=20)
    proc, base = start_server([root / "tg", root / "st"])
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


def test_cell_search_lists_ranked_cells(page):
    tab(page, "cells")
    Select(page.find_element(By.ID, "pattern-preset")).select_by_visible_text("inside parentheses")
    page.find_element(By.ID, "find-btn").click()
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cells-results tr.pick")) == 10)
    values = [abs(float(r.find_elements(By.TAG_NAME, "td")[3].text))
              for r in page.find_elements(By.CSS_SELECTOR, "#cells-results tr.pick")]  # fmt: skip
    assert values == sorted(values, reverse=True) and values[0] > 0
    assert len(page.find_elements(By.CSS_SELECTOR, "#cells-results .top-cell")) == 3
    tab(page, "gates")
    wait(
        page,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#gates-output svg circle")) == 2 * 3 * 16,
    )


def test_classify_a_sentence(page):
    tab(page, "sentiment")
    box = page.find_element(By.ID, "sent-text")
    box.clear()
    box.send_keys("i really enjoyed this wonderful film")
    page.find_element(By.ID, "classify-btn").click()
    wait(page, lambda d: d.find_elements(By.ID, "sent-label"))
    label = page.find_element(By.CSS_SELECTOR, "#sent-label b").text
    assert label in ("neg", "pos")
    assert len(page.find_elements(By.CSS_SELECTOR, "#sent-words span")) == 6
    assert len(page.find_elements(By.CSS_SELECTOR, "#sent-chart polyline")) == 1


def test_gradient_flow_and_no_console_errors(page):
    tab(page, "gradients")
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grad-chart polyline")) == 4)
    assert page.find_element(By.ID, "error").get_attribute("hidden") is not None
    errors = [e for e in page.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
