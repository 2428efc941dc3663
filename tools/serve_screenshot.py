"""Usage: .venv/bin/python tools/serve_screenshot.py --model /tmp/digits/model.pt --out docs/serve.png \
          --wav /work/shared/data/fsdd/recordings/{9_george_7,1_jackson_7,8_jackson_9}.wav

A screenshot of the `asr serve` page after a recording: serves --model in-process on a free loopback port, opens
the page in headless Chromium (Debian's /usr/bin/chromium and chromedriver; nothing is downloaded), records
through Chrome's fake microphone playing the --wav files (joined with short pauses and padded with 0.5 s of
silence), waits for the words and the attention picture, and saves the whole page as a PNG.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
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


def screenshot(url: str, mic: Path, seconds: float, out: Path, width: int, height: int) -> str:
    """-> the words the page showed."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--autoplay-policy=no-user-gesture-required", f"--window-size={width},{height}",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={mic}"):
        options.add_argument(flag)
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        d.get(url + "/")
        WebDriverWait(d, WAIT_S).until(lambda d: d.find_element(By.ID, "model").get_attribute("value"),
                                       "the page listed no models")
        record = d.find_element(By.ID, "record")
        record.click()
        WebDriverWait(d, WAIT_S).until(lambda d: record.get_attribute("aria-pressed") == "true",
                                       "recording did not start")
        time.sleep(seconds)  # the fake microphone loops the file: one pass of it
        record.click()

        def done(d) -> bool:
            if "error" in d.find_element(By.ID, "status").get_attribute("class"):
                raise SystemExit(f"the page reports: {d.find_element(By.ID, 'status').text}")
            return d.execute_script("const i = document.getElementById('attention');"
                                    "return i.complete && i.naturalWidth > 0")

        WebDriverWait(d, WAIT_S, poll_frequency=0.2).until(done, "no attention picture")
        said = " ".join(s.text for s in d.find_elements(By.CSS_SELECTOR, "#words span.word"))
        full = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(width, max(height, full + 140))  # the whole page, not only the first screen
        time.sleep(0.3)
        out.parent.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(out))
        return said
    finally:
        d.quit()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True, type=Path, help="the model file to serve")
    p.add_argument("--wav", required=True, type=Path, nargs="+", help="what the fake microphone plays")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    p.add_argument("--name", default="digits", help="the model's name on the page (default: digits)")
    p.add_argument("--width", type=int, default=1200)
    p.add_argument("--height", type=int, default=1000)
    args = p.parse_args(argv)
    for f in (args.model, *args.wav):
        if not f.is_file():
            raise SystemExit(f"no such file: {f}")

    sys.path.insert(0, str(ROOT))
    from asr.serve import ServeOptions, create_app, serve_models

    opts = ServeOptions()
    app = create_app(serve_models({args.name: args.model}, opts), opts)
    with tempfile.TemporaryDirectory() as tmp, Server(app) as url:
        mic = Path(tmp) / "mic.wav"
        seconds = fake_mic(args.wav, mic)
        said = screenshot(url, mic, seconds, args.out, args.width, args.height)
    print(f"{args.out}: the page heard {said!r} ({seconds:.1f} s through the fake microphone)")


if __name__ == "__main__":
    main()
