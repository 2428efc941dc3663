"""The page of `asr serve` in headless Chromium (selenium): upload a file, record through Chrome's fake microphone
(a held-out wav played as the capture device), and the API-key prompt after a 401.

Needs /usr/bin/chromium and chromedriver (Debian's chromium and chromium-driver); skipped without them. Nothing
is downloaded: selenium is given the driver and the browser, so selenium-manager is never run.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("the page tests need chromium and chromedriver (apt-get install chromium chromium-driver)",
                allow_module_level=True)
pytest.importorskip("selenium")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from serve_util import running  # noqa: E402
from trained_model import recognised  # noqa: E402

WAIT_S = 60
TITLE = re.compile(r"^(\d+\.\d\d)–(\d+\.\d\d) s, confidence ([01]\.\d\d)$")


def chrome(extra: tuple[str, ...] = ()) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1200,1000", *extra):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    return driver


@pytest.fixture
def browsers():
    """chrome(...) for the test; every browser it opened is quit at the end."""
    opened: list[webdriver.Chrome] = []

    def open_(*extra: str) -> webdriver.Chrome:
        opened.append(chrome(extra))
        return opened[-1]

    yield open_
    for d in opened:
        d.quit()


def serve(model_path: Path, **options):
    from asr.serve import ServeOptions, create_app, serve_models

    opts = ServeOptions(**options)
    return running(create_app(serve_models({"digits": model_path}, opts), opts), max_requests=100)


@pytest.fixture(scope="module")
def known(digits_model) -> list[tuple[Path, str]]:
    """Held-out utterances the model gets right, longest first."""
    path, heldout = digits_model
    items = recognised(path, heldout)
    if not items:
        pytest.skip("the digit model recognises none of its held-out utterances")
    return sorted(items, key=lambda it: -len(it[1].split()))


def status(driver) -> str:
    return driver.find_element(By.ID, "status").text


def words(driver) -> list[str]:
    return [s.text for s in driver.find_elements(By.CSS_SELECTOR, "#words span.word")]


def wait_done(driver, what: str) -> None:
    """Until the page has shown a transcript and finished (the attention picture loaded, or an error)."""
    def done(d) -> bool:
        if "error" in (d.find_element(By.ID, "status").get_attribute("class") or ""):
            raise AssertionError(f"the page reports an error while {what}: {status(d)!r}")
        return bool(words(d)) and d.execute_script(
            "const i = document.getElementById('attention'); return i.complete && i.naturalWidth > 0")

    WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(
        done, f"no words and attention picture {WAIT_S} s after {what}; status {status(driver)!r}")


def check_words(driver) -> None:
    spans = driver.find_elements(By.CSS_SELECTOR, "#words span.word")
    assert spans
    last_end = 0.0
    for span in spans:
        m = TITLE.match(span.get_attribute("title") or "")
        assert m, f"the word {span.text!r} has the tooltip {span.get_attribute('title')!r}"
        start, end, conf = map(float, m.groups())
        assert last_end - 0.011 <= start <= end, (span.text, m.groups())
        last_end = end
        if abs(conf - 0.5) > 0.005:  # the tooltip rounds to 2 decimals: a shown 0.5 may be 0.4996, marked low
            assert ("low" in span.get_attribute("class").split()) == (conf < 0.5), (span.text, conf)


def check_offline(driver, url: str) -> None:
    """Everything the page loaded came from the server: no CDN, no fonts from outside."""
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    outside = [u for u in loaded if not (u.startswith(url) or u.startswith("blob:"))]
    assert not outside, outside


@pytest.mark.timeout(180)
def test_upload_shows_words_times_and_attention(digits_model, known, browsers):
    wav, text = known[0]
    with serve(digits_model[0]) as url:
        d = browsers()
        d.get(url + "/")
        WebDriverWait(d, WAIT_S).until(lambda d: d.find_element(By.ID, "model").get_attribute("value") == "digits",
                                       "the model selector was not filled from /v1/models")
        assert d.find_element(By.ID, "record").is_enabled()  # 127.0.0.1 is a secure context: the mic is offered
        d.find_element(By.ID, "transcribe").click()  # nothing chosen: the page says so, nothing is sent
        assert "choose" in status(d).lower()
        d.find_element(By.ID, "file").send_keys(str(Path(wav).resolve()))
        d.find_element(By.ID, "transcribe").click()
        wait_done(d, f"uploading {wav}")
        assert words(d) == text.split(), (words(d), text)
        assert d.find_element(By.ID, "transcript").text == text
        check_words(d)
        rows = d.find_elements(By.CSS_SELECTOR, "#segments tbody tr")
        assert rows and rows[0].find_elements(By.TAG_NAME, "td")[3].text == text
        assert d.find_element(By.ID, "attention").get_attribute("src").startswith("blob:")
        assert "Transcribed" in status(d)
        check_offline(d, url)


@pytest.mark.timeout(180)
def test_record_through_fake_microphone(digits_model, known, browsers, tmp_path):
    wav, text = known[0]
    audio, sr = sf.read(wav, dtype="float32")
    pad = np.zeros(sr // 2, dtype=np.float32)
    fake = tmp_path / "mic.wav"
    sf.write(fake, np.concatenate([pad, audio, pad]), sr, subtype="PCM_16")
    seconds = sf.info(fake).duration
    with serve(digits_model[0]) as url:
        d = browsers("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={fake}")
        d.get(url + "/")
        WebDriverWait(d, WAIT_S).until(lambda d: d.find_element(By.ID, "model").get_attribute("value") == "digits")
        record = d.find_element(By.ID, "record")
        record.click()
        WebDriverWait(d, WAIT_S).until(lambda d: record.get_attribute("aria-pressed") == "true",
                                       f"recording did not start; status {status(d)!r}")
        time.sleep(seconds)  # the fake capture loops the file: about one pass of it
        record.click()
        wait_done(d, "recording")
        said = " ".join(words(d))
        assert text in said, (said, text)  # a loop may add a word or two at the edges
        assert text in d.find_element(By.ID, "transcript").text
        check_words(d)
        assert record.get_attribute("aria-pressed") == "false" and record.is_enabled()


@pytest.mark.timeout(180)
def test_api_key_prompt_after_401(digits_model, known, browsers):
    wav, text = known[-1]
    with serve(digits_model[0], api_key="sesame") as url:
        d = browsers()
        d.get(url + "/")
        note = d.find_element(By.ID, "apikey-note")
        WebDriverWait(d, WAIT_S).until(lambda d: note.is_displayed(), "no API-key prompt after the 401")
        assert "error" in d.find_element(By.ID, "status").get_attribute("class")
        assert "API key" in status(d)  # the server's message
        key = d.find_element(By.ID, "apikey")
        key.send_keys("sesame", Keys.TAB)  # leaving the field saves it and lists the models again
        WebDriverWait(d, WAIT_S).until(lambda d: d.find_element(By.ID, "model").get_attribute("value") == "digits",
                                       f"the models were not listed with the key; status {status(d)!r}")
        assert not note.is_displayed()
        assert d.execute_script("return localStorage.getItem('asr-api-key')") == "sesame"
        d.find_element(By.ID, "file").send_keys(str(Path(wav).resolve()))
        d.find_element(By.ID, "transcribe").click()
        wait_done(d, "uploading with the key")
        assert words(d) == text.split()


@pytest.mark.timeout(180)
def test_errors_and_long_recordings(digits_model, browsers, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio\n")
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(31 * 16_000, np.float32), 16_000, subtype="PCM_16")
    with serve(digits_model[0]) as url:
        d = browsers()
        d.get(url + "/")
        WebDriverWait(d, WAIT_S).until(lambda d: d.find_element(By.ID, "model").get_attribute("value") == "digits")
        d.find_element(By.ID, "file").send_keys(str(bad))
        d.find_element(By.ID, "transcribe").click()
        WebDriverWait(d, WAIT_S).until(lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"),
                                       f"no error shown for a text file; status {status(d)!r}")
        assert "400" in status(d) and "notes.txt" in status(d), status(d)  # the server's message
        assert d.find_element(By.ID, "transcribe").is_enabled()
        d.find_element(By.ID, "file").send_keys(str(long))  # over 30 s: transcribed, no attention picture asked
        d.find_element(By.ID, "transcribe").click()
        WebDriverWait(d, WAIT_S).until(lambda d: "Transcribed 31.0 s" in status(d),
                                       f"the long recording was not transcribed; status {status(d)!r}")
        assert "30 s" in status(d) and "error" not in d.find_element(By.ID, "status").get_attribute("class")
        assert not d.find_element(By.ID, "attention-box").is_displayed()
        assert d.find_element(By.ID, "transcript").is_displayed() and not words(d)
