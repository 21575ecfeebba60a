"""The viewer in a real browser: Debian's headless Chromium driven by Selenium, on outputs replayed from a cassette.

Both ways of opening it are tested: served from 127.0.0.1 and written as one HTML file. Set
CODECLM_VIEW_SCREENSHOTS=FOLDER to save the screenshots used in docs/viewer.md.

Runs against: outputs replayed from a cassette recorded from real local models (tests/test_pipeline_cassette.py's),
in Debian's headless Chromium; no model runs.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from codeclm.judging.token_losses import unpack
from codeclm.output.records import seed_id
from codeclm.seeds.readers import read_seeds
from codeclm.view import open_runs, write_html
from codeclm.view.page import payload
from codeclm.view.server import make_server
from view.cassette_runs import make_runs

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver "
                                "(apt-get install chromium chromium-driver; .ci/run does)")
SHOTS = os.environ.get("CODECLM_VIEW_SCREENSHOTS")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)  # the system's driver: nothing downloaded
    yield driver
    driver.quit()


@pytest.fixture(params=["served", "html"])
def page_url(request, outputs, tmp_path):
    runs = open_runs([str(outputs["codeclm"]), str(outputs["strict"])])
    if request.param == "html":
        yield write_html(runs, tmp_path / "view.html").resolve().as_uri()
        return
    server = make_server(runs, payload(runs), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#items tbody tr")


def choose(driver, select_id: str, label: str) -> None:
    select = Select(driver.find_element(By.ID, select_id))
    select.select_by_visible_text(next(o.text for o in select.options if o.text.startswith(f"{label} (")))


def shot(driver, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / f"viewer-{name}.png"))


def test_table_story_filter_coverage_compare(browser, page_url, outputs):
    kept = [json.loads(line) for line in outputs["codeclm"].read_text().splitlines()]
    strict_dropped = [json.loads(line) for line in outputs["strict"].with_name("strict.dropped.jsonl").read_text().splitlines()]
    assert kept and strict_dropped, "the replayed runs should keep items (codeclm) and drop some (strict)"
    wait = WebDriverWait(browser, 20)
    browser.get(page_url)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    total = 4 + 4  # both runs: 2 metadata x 2 instructions each
    assert browser.find_element(By.ID, "count").text == f"items 1-{total} of {total}"
    assert len(rows(browser)) == total
    shot(browser, "items")

    # one item's story: the first kept record of the first run
    record = kept[0]
    browser.find_element(By.CSS_SELECTOR, "#items tbody tr[data-row='0']").click()
    story = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#view-story .story"))
    assert story.get_attribute("data-id") == record["id"]
    assert browser.find_element(By.ID, "story-instruction").text == record["instruction"]
    seeds = {seed_id(s.text): s.text for s in read_seeds("benchmark:self_instruct")}
    seed_text = seeds[record["metadata_origin"].split(":", 1)[1]]
    assert " ".join(seed_text.split()) in " ".join(story.text.split())
    history = browser.find_elements(By.CSS_SELECTOR, "#history tr")
    assert len(history) == 1 + len(record["history"])  # header + one row per iteration
    tokens = browser.find_elements(By.CSS_SELECTOR, "#shaded .tok")
    assert len(tokens) == len(unpack(record["judge"]["orders"][0]["tokens"]))
    assert browser.execute_script("return document.getElementById('shaded').textContent") == record["strong_response"]
    shaded = [t for t in tokens if "rgba" in (t.get_attribute("style") or "")]
    assert shaded and browser.find_elements(By.CSS_SELECTOR, "#shaded .tok.uncounted")
    shot(browser, "story")
    browser.execute_script("document.getElementById('loss-card').scrollIntoView()")
    shot(browser, "target-loss")

    # a filter: the filter stage's drops only, then sort by gap
    browser.find_element(By.ID, "tab-items").click()
    choose(browser, "f-stage", "filter")
    shown = rows(browser)
    assert len(shown) == len(strict_dropped) == 2
    assert {r.find_element(By.CSS_SELECTOR, ".badge").text for r in shown} == {"filtered"}
    assert sorted(r.find_elements(By.TAG_NAME, "td")[-1].text for r in shown) == sorted(d["instruction"] for d in strict_dropped)
    choose(browser, "f-stage", "kept")
    browser.find_element(By.ID, "sort-gap").click()
    gaps = [float(r.find_elements(By.CSS_SELECTOR, "td.num")[1].text) for r in rows(browser)]
    assert len(gaps) == 6 and gaps == sorted(gaps, reverse=True)
    browser.find_element(By.ID, "search").send_keys("email")
    assert rows(browser) and all("email" in r.text.lower() for r in rows(browser))
    browser.find_element(By.ID, "clear").click()
    assert len(rows(browser)) == total

    # coverage of the strict run: its dropped items' seed metadata is not in its output
    browser.find_element(By.ID, "tab-coverage").click()
    Select(browser.find_element(By.ID, "cov-run")).select_by_value("1")
    uncovered = browser.find_elements(By.CSS_SELECTOR, "#uncovered tr")[1:]
    dropped_pairs = {(d["metadata"]["use_case"].lower(), s) for d in strict_dropped for s in d["metadata"]["skills"]}
    assert {tuple(td.text for td in r.find_elements(By.TAG_NAME, "td")[:2]) for r in uncovered} == dropped_pairs
    assert browser.find_elements(By.CSS_SELECTOR, "#coverage-grid td.gap")
    shot(browser, "coverage")

    # two runs side by side
    browser.find_element(By.ID, "tab-compare").click()
    summary = browser.find_element(By.ID, "compare-summary").text
    assert "kept 4 2" in summary.replace("\n", " ")
    shot(browser, "compare")
    browser.find_elements(By.CSS_SELECTOR, "#compare-items tr")[1].click()
    both = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#side-by-side .story"))
    assert len(both) == 2 and both[0].get_attribute("data-id") == both[1].get_attribute("data-id")
    assert {b.find_element(By.CSS_SELECTOR, ".badge").text for b in both} == {"kept", "filtered"}
    shot(browser, "side-by-side")
