"""Screenshots of every explorer view (docs/images/explore-*.png) with headless Chromium.

    python bench/explore_screenshots.py RUN_DIR [RUN_DIR ...] [--out docs/images]
        [--prime TEXT] [--pattern NAME] [--sentence TEXT] [--labels 0=negative,1=positive]

Starts ``rnnkit explore`` on a free loopback port, drives Debian's chromium
through Selenium (/usr/bin/chromium, /usr/bin/chromedriver), and saves one PNG per view.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1400,900", "--hide-scrollbars"]  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default="docs/images")
    p.add_argument("--prime", default="def ")
    p.add_argument("--pattern", default="inside parentheses")
    p.add_argument("--cell", help="layer/kind/unit to colour in the Cells view, e.g. 1/tanh_c/37")
    p.add_argument("--sentence", default="a gorgeous , witty film , though the ending is dull")
    p.add_argument("--labels", help="names for the classifier's labels (rnnkit explore --labels)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "rnnkit.cli", "explore", *args.runs, "--port", "0"]
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

    def shot(name):
        time.sleep(0.5)
        driver.save_screenshot(str(out / f"explore-{name}.png"))
        print("wrote", out / f"explore-{name}.png")

    try:
        driver.get(url)
        any_model = "#textgen-model option, #sentiment-model option"
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, any_model))
        has_textgen = bool(driver.find_elements(By.CSS_SELECTOR, "#textgen-model option"))
        if has_textgen:
            prime = driver.find_element(By.ID, "prime")
            prime.clear()
            prime.send_keys(args.prime)
            driver.find_element(By.ID, "generate-btn").click()
            wait.until(lambda d: d.find_element(By.ID, "gen-status").text.startswith("done"))
            spans = driver.find_elements(By.CSS_SELECTOR, "#gen-output span.ch")
            webdriver.ActionChains(driver).move_to_element(spans[len(spans) // 3]).perform()
            shot("generate")
            tab("cells")
            wait.until(lambda d: d.find_element(By.ID, "cells-output").get_attribute("data-cell"))
            preset = Select(driver.find_element(By.ID, "pattern-preset"))
            preset.select_by_visible_text(args.pattern)
            driver.find_element(By.ID, "find-btn").click()
            wait.until(lambda d: d.find_elements(By.ID, "cells-verdict"))
            if args.cell:
                layer, kind, unit = args.cell.split("/")
                driver.execute_script(
                    "document.getElementById('cell-layer').value = arguments[0];"
                    "document.getElementById('cell-kind').value = arguments[1];"
                    "const u = document.getElementById('cell-unit'); u.value = arguments[2];"
                    "u.dispatchEvent(new Event('change'));", layer, kind, unit)
                wait.until(lambda d: d.find_element(By.ID, "cells-output")
                           .get_attribute("data-cell") == args.cell)  # fmt: skip
            driver.execute_script("document.querySelector('.cell-pick').scrollIntoView()")
            shot("cells")
            driver.execute_script("document.getElementById('cells-results').previousElementSibling"
                                  ".previousElementSibling.scrollIntoView()")  # fmt: skip
            shot("cells-search")
            driver.execute_script("window.scrollTo(0, 0)")
            driver.find_element(By.ID, "colour-surprise").click()
            driver.find_element(By.ID, "show-strip").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-output .col"))
            driver.execute_script("document.getElementById('cells-output')"
                                  ".scrollIntoView({block: 'center'})")  # fmt: skip
            shot("surprise")
            driver.find_element(By.ID, "colour-surprise").click()
            driver.find_element(By.ID, "show-strip").click()
            driver.find_element(By.ID, "longrange-btn").click()
            wait.until(lambda d: d.find_elements(By.ID, "longrange-output"))
            driver.execute_script("document.getElementById('longrange-output')"
                                  ".scrollIntoView({block: 'end'})")  # fmt: skip
            shot("longrange")
            driver.execute_script("window.scrollTo(0, 0)")
            tab("gates")
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#gates-output svg circle"))
            shot("gates")
        if driver.find_elements(By.CSS_SELECTOR, "#sentiment-model option"):
            tab("sentiment")
            box = driver.find_element(By.ID, "sent-text")
            box.clear()
            box.send_keys(args.sentence)
            driver.find_element(By.ID, "classify-btn").click()
            wait.until(lambda d: d.find_elements(By.ID, "sent-chart"))
            shot("sentiment")
        tab("gradients")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#grad-chart polyline"))
        shot("gradients")
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
