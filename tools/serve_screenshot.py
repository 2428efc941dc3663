"""Usage: .venv/bin/python tools/serve_screenshot.py --model /tmp/digits/model.pt --out docs/serve.png \
          --wav /work/shared/data/fsdd/recordings/{9_george_7,1_jackson_7,8_jackson_9}.wav
       .venv/bin/python tools/serve_screenshot.py --model /tmp/digits/model.pt --out docs/serve-live.png \
          --live /work/shared/data/fsdd/recordings/{9_george_7,1_jackson_7,8_jackson_9}.wav

A screenshot of the `asr serve` page after a recording: serves --model in-process on a free loopback port, opens
the page in headless Chromium (Debian's /usr/bin/chromium and chromedriver; nothing is downloaded), records
through Chrome's fake microphone playing the --wav files (joined with short pauses and padded with 0.5 s of
silence), waits for the words and the attention picture, and saves the whole page as a PNG. With --live instead
of --wav the page's live mode streams the files over the WebSocket (/v1/audio/stream): the picture is taken
after Stop, once the final text is in; the partial texts seen on the way are printed.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
SR = 16_000
WAIT_S = 120


def fake_mic(wavs: list[Path], out: Path, gap_s: float = 0.25, pad_s: float = 0.5) -> float:
    """The --wav files as one 16 kHz mono file for Chrome's fake capture; -> its duration in seconds."""
    parts = [np.zeros(int(pad_s * SR), np.float32)]
    for w in wavs:
        x, sr = sf.read(w, dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        parts += [soxr.resample(x, sr, SR).astype(np.float32) if sr != SR else x, np.zeros(int(gap_s * SR), np.float32)]
    parts[-1] = np.zeros(int(pad_s * SR), np.float32)
    audio = np.concatenate(parts)
    sf.write(out, audio, SR, subtype="PCM_16")
    return len(audio) / SR


class Server:
    """uvicorn on a free 127.0.0.1 port in a thread, while the `with` block runs."""

    def __init__(self, app) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def chrome(mic: Path, width: int, height: int):
    """Headless Chromium whose microphone plays the file `mic`, in a loop."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--autoplay-policy=no-user-gesture-required", f"--window-size={width},{height}",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={mic}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def open_page(d, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d.get(url + "/")
    WebDriverWait(d, WAIT_S).until(lambda d: d.find_element(By.ID, "model").get_attribute("value"),
                                   "the page listed no models")


def save_page(d, out: Path, width: int, height: int) -> None:
    full = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(width, max(height, full + 140))  # the whole page, not only the first screen
    time.sleep(0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    d.save_screenshot(str(out))


def page_error(d) -> None:
    """SystemExit with the page's message when its status shows an error."""
    from selenium.webdriver.common.by import By

    status = d.find_element(By.ID, "status")
    if "error" in (status.get_attribute("class") or ""):
        raise SystemExit(f"the page reports: {status.text}")


def screenshot(url: str, mic: Path, seconds: float, out: Path, width: int, height: int) -> str:
    """-> the words the page showed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = chrome(mic, width, height)
    try:
        open_page(d, url)
        record = d.find_element(By.ID, "record")
        record.click()
        WebDriverWait(d, WAIT_S).until(lambda d: record.get_attribute("aria-pressed") == "true",
                                       "recording did not start")
        time.sleep(seconds)  # the fake microphone loops the file: one pass of it
        record.click()

        def done(d) -> bool:
            page_error(d)
            return d.execute_script("const i = document.getElementById('attention');"
                                    "return i.complete && i.naturalWidth > 0")

        WebDriverWait(d, WAIT_S, poll_frequency=0.2).until(done, "no attention picture")
        said = " ".join(s.text for s in d.find_elements(By.CSS_SELECTOR, "#words span.word"))
        save_page(d, out, width, height)
        return said
    finally:
        d.quit()


@dataclass
class Live:
    """What the page's live mode showed."""

    partials: list[str]  # each partial text, in turn, while the microphone was live
    final: str  # the final text after Stop
    seconds: float  # from "listening" to Stop
    status: str  # the page's last word ("Live transcription ended: 3.1 s of audio streamed.")


def live_screenshot(url: str, mic: Path, seconds: float, out: Path, width: int, height: int) -> Live:
    """Live mode for `seconds` of the fake microphone, then Stop; the PNG once the stream has ended."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = chrome(mic, width, height)
    try:
        open_page(d, url)
        status = d.find_element(By.ID, "status")
        live = d.find_element(By.ID, "live")
        live.click()

        def listening(d) -> bool:
            page_error(d)
            return "listening" in status.text

        WebDriverWait(d, WAIT_S, poll_frequency=0.05).until(listening, "the live stream did not start")
        began = time.monotonic()
        partials: list[str] = []
        while time.monotonic() - began < seconds:  # the fake microphone loops the file: one pass of it
            page_error(d)
            text = d.find_element(By.ID, "live-partial").text
            if text and (not partials or partials[-1] != text):
                partials.append(text)
            time.sleep(0.05)
        streamed = time.monotonic() - began
        live.click()  # Stop

        def ended(d) -> bool:
            page_error(d)
            return "ended" in status.text

        WebDriverWait(d, WAIT_S, poll_frequency=0.1).until(ended, "the live stream did not end")
        final = d.find_element(By.ID, "live-final").text
        if not final:
            raise SystemExit(f"the page showed no final text ({status.text})")
        save_page(d, out, width, height)
        return Live(partials, final, streamed, status.text)
    finally:
        d.quit()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True, type=Path, help="the model file to serve")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--wav", type=Path, nargs="+", help="what the fake microphone plays, recorded and uploaded")
    what.add_argument("--live", type=Path, nargs="+", help="what the fake microphone plays, streamed live")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    p.add_argument("--name", default="digits", help="the model's name on the page (default: digits)")
    p.add_argument("--width", type=int, default=1200)
    p.add_argument("--height", type=int, default=1000)
    args = p.parse_args(argv)
    wavs = args.live or args.wav
    for f in (args.model, *wavs):
        if not f.is_file():
            raise SystemExit(f"no such file: {f}")

    sys.path.insert(0, str(ROOT))
    from asr.serve import ServeOptions, create_app, serve_models

    opts = ServeOptions()
    app = create_app(serve_models({args.name: args.model}, opts), opts)
    with tempfile.TemporaryDirectory() as tmp, Server(app) as url:
        mic = Path(tmp) / "mic.wav"
        seconds = fake_mic(wavs, mic)
        if args.live:
            seen = live_screenshot(url, mic, seconds, args.out, args.width, args.height)
            print(f"partials: {seen.partials}")
            said = seen.final
        else:
            said = screenshot(url, mic, seconds, args.out, args.width, args.height)
    print(f"{args.out}: the page heard {said!r} ({seconds:.1f} s through the fake microphone)")


if __name__ == "__main__":
    main()
