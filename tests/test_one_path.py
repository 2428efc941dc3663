"""One recognition path (asr.decoding.recognition): `asr transcribe`, validation during training, confidence
calibration, `asr plot-attention` and the page's attention picture say the same text for the same audio and
settings. The audio is made quiet and offset (as a laptop microphone records): the transcriber removes the offset
and scales the level into the training range, so a caller that decodes the raw samples says something else."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch

import asr
from asr.audio import open_audio
from asr.cli import main
from asr.inference.calibrate import recognised_evidence
from asr.inference.confidence import Calibration
from asr.inference.options import TranscribeOptions
from asr.model import pad_targets
from asr.serve import ServeOptions, create_app, serve_models
from serve_util import running

pytestmark = pytest.mark.timeout(600)


def as_laptop_records(wav: Path, out: Path) -> Path:
    """The utterance 26 dB quieter, on a DC offset of 0.02."""
    audio, rate = sf.read(wav, dtype="float32")
    sf.write(out, 0.05 * audio + 0.02, rate)
    return out


@pytest.fixture(scope="module")
def files(digits_model, tmp_path_factory) -> list[Path]:
    _, heldout = digits_model
    folder = tmp_path_factory.mktemp("laptop")
    return [as_laptop_records(w, folder / Path(w).name) for w, _ in heldout[:8]]


def validation_texts(model_path: Path, waves: list[np.ndarray]) -> list[str]:
    """What validation during training scores: ASRTask's step on a batch of these utterances (the model file's
    weights, as `asr fit --init-from` starts), read from the (reference, hypothesis) pairs it keeps."""
    from asr.training.task import ASRTask

    model = asr.load_model(model_path)
    task = ASRTask(model=model.net.cfg, init_from=str(model_path))
    task.build(model.tokenizer)
    task.net.load_state_dict(model.net.state_dict())
    task.eval()
    lens = torch.tensor([len(w) for w in waves])
    audio = torch.zeros(len(waves), int(lens.max()))  # (B, S)
    for b, w in enumerate(waves):
        audio[b, : len(w)] = torch.from_numpy(w)
    text = ["one"] * len(waves)
    targets, target_lens = pad_targets([model.tokenizer.encode(t) for t in text])  # (B, U), (B,)
    batch = {"audio": audio, "audio_lens": lens, "text": text, "targets": targets, "target_lens": target_lens}
    with torch.no_grad():
        task._score_batch(batch, "test")
    return [hyp for _, hyp in task._scored]


def test_every_caller_says_what_transcribe_says(digits_model, files, tmp_path, capsys):
    path, _ = digits_model
    model = asr.load_model(path)
    said = [t.text for t in model.transcribe([str(f) for f in files])]
    assert all(said), said

    window = Calibration().window_s
    calibrated = []
    for f in files:
        audio, rate = sf.read(f, dtype="float32")
        words, _ = recognised_evidence(model, audio, rate, window)
        calibrated.append(" ".join(words))
    assert calibrated == said

    pictured = []
    for f in files:
        assert main(["plot-attention", "--model", str(path), str(f), "--out", str(tmp_path / "a.png")]) == 0
        pictured.append(re.search(r"saying '(.*)'", capsys.readouterr().out).group(1))
    assert pictured == said

    # Validation sees the file's samples as the data loader reads them; the transcriber's preparation of them
    # (offset removed, level scaled) is what recognition starts from, so validation is given that
    prepared = [model.recognise_whole(str(f), lambda f=f: open_audio(f), TranscribeOptions())[0].wave for f in files]
    assert validation_texts(path, prepared) == said

    opts = ServeOptions(max_batch=4, max_wait_ms=10, max_upload_mb=1, max_queue=4)
    app = create_app(serve_models({"digits": path}, opts), opts)
    with running(app, max_requests=40) as url:
        for f, text in zip(files[:3], said):
            answer = httpx.post(f"{url}/v1/audio/attention", files={"file": (f.name, f.read_bytes())},
                                data={"model": "digits"}, timeout=120)
            assert answer.status_code == 200 and answer.content.startswith(b"\x89PNG")
            assert httpx.URL("?t=" + answer.headers["x-transcript"]).params["t"] == text


def test_the_raw_samples_say_something_else(digits_model, files):
    """The test above has teeth: decoding these files' raw samples, as plot-attention once did, gives other text."""
    from asr.decoding import DecodeOptions, recognise

    path, _ = digits_model
    model = asr.load_model(path)
    said = [t.text for t in model.transcribe([str(f) for f in files])]
    raw = []
    for f in files:
        audio, _ = sf.read(f, dtype="float32")
        x = torch.from_numpy(audio)[None]
        raw.append(recognise(model.net, x, torch.tensor([x.shape[1]]), DecodeOptions(), model.tokenizer).texts[0])
    assert raw != said
