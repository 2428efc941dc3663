"""Every odd file gets an answer: recordings at odd levels, offsets, bit depths and noise come out right; damaged
or empty files get one error line naming them; silence and noise get an empty transcript that says so."""

import json

import numpy as np
import pytest
import soundfile as sf
import soxr
from trained_model import recognised

import asr
from asr.cli import main
from asr.corpora import fsdd
from asr.errors import UserError

SR = 16_000
FSDD_CANDIDATES = ("1_jackson_0", "2_nicolas_0", "3_george_0", "8_jackson_0", "9_george_0", "1_nicolas_0",
                   "9_nicolas_0", "1_yweweler_0", "9_yweweler_0", "0_george_0")


def write_variants(x: np.ndarray, sr: int, out, name: str) -> list[str]:
    """The odd ways one recording reaches a user; -> the kinds written, as `<name>-<kind>.wav`."""
    rng = np.random.default_rng(0)
    peak = np.abs(x).max()
    rms = np.sqrt(np.mean(x**2))  # over the whole clip, as tests/trained_model.py measures SNR
    sf.write(out / f"{name}-u8.wav", x, sr, subtype="PCM_U8")  # 8-bit unsigned
    sf.write(out / f"{name}-m60.wav", x / peak * 10 ** (-60 / 20), sr, subtype="PCM_24")  # peak at -60 dBFS
    sf.write(out / f"{name}-dc.wav", x + 0.4, sr, subtype="FLOAT")  # a 0.4 DC offset
    noisy = x + rms * 10 ** (-10 / 20) * rng.standard_normal(len(x))  # 10 dB SNR
    sf.write(out / f"{name}-snr10.wav", noisy.astype(np.float32), sr, subtype="FLOAT")
    return ["u8", "m60", "dc", "snr10"]


def fsdd_recognised(model) -> tuple[np.ndarray, int, str] | None:
    """A real FSDD recording of one digit that the test model (trained on TTS only) recognises, if any."""
    root = fsdd.default_root()
    if root is None:
        return None
    for stem in FSDD_CANDIDATES:
        x, sr = sf.read(root / "recordings" / f"{stem}.wav", dtype="float32")
        word = fsdd.DIGIT_WORDS[int(stem[0])]
        if model.transcribe(x, sample_rate=sr, word_timestamps=False).text == word:
            return x, sr, word
    return None


def test_odd_recordings_come_out_right_and_bad_files_get_one_line_each(digits_model, tmp_path, capsys):
    path, heldout = digits_model
    model = asr.load_model(path)
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    truth = {}
    for i, (wav, text) in enumerate(recognised(path, heldout)[:4]):
        x, _ = sf.read(wav, dtype="float32")
        truth.update({f"h{i}-{k}": text for k in write_variants(x, SR, folder, f"h{i}")})
    real = fsdd_recognised(model)
    if real is not None:  # the real recording (8 kHz) of one digit, as the user who found this sent it
        x, sr, word = real
        truth.update({f"fsdd-{k}": word for k in write_variants(x, sr, folder, "fsdd")})
    x, _ = sf.read(recognised(path, heldout)[0][0], dtype="float32")
    y = x.copy()
    y[len(y) // 3] = np.nan
    sf.write(folder / "nan.wav", y, SR, subtype="FLOAT")
    y[len(y) // 3] = np.inf
    sf.write(folder / "inf.wav", y, SR, subtype="FLOAT")
    sf.write(folder / "empty.wav", np.zeros(0, np.float32), SR, subtype="PCM_16")  # a valid header, no samples
    sf.write(folder / "silence.wav", np.zeros(2 * SR, np.float32), SR, subtype="PCM_16")
    rng = np.random.default_rng(1)
    sf.write(folder / "noise.wav", (0.05 * rng.standard_normal(2 * SR)).astype(np.float32), SR, subtype="PCM_16")

    rc = main(["transcribe", "--model", str(path), str(folder), "--format", "json", "--output-dir", str(out),
               "--no-word-timestamps"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    errors = sorted(line for line in err.splitlines() if line.startswith("error:"))
    assert len(errors) == 3, err
    assert all(len(e.split(": ")) >= 3 for e in errors)  # `error: <file>: <what is wrong>; <what to do>`
    assert "empty.wav" in errors[0] and "no audio samples" in errors[0]
    assert "inf.wav" in errors[1] and "NaN or infinite" in errors[1]
    assert "nan.wav" in errors[2] and "NaN or infinite" in errors[2]
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert sorted(n.split(":")[1].strip().rsplit("/", 1)[-1] for n in notes) == ["noise.wav", "silence.wav"]

    got = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert sorted(got) == sorted([*truth, "silence", "noise"])  # every readable file has an answer
    for quiet in ("silence", "noise"):
        assert got[quiet]["text"] == "" and got[quiet]["no_speech"] is True
    for name in truth:
        assert got[name]["text"] and got[name]["no_speech"] is False, name  # never empty
    right = {k: [got[n]["text"] == t for n, t in truth.items() if n.endswith(f"-{k}")] for k in ("u8", "dc", "m60", "snr10")}
    assert all(right["u8"]) and all(right["dc"]) and all(right["m60"]), right
    for name in (n for n in truth if n.endswith("-snr10")):  # decoded whole: nothing cut before the model
        [seg] = got[name]["segments"]
        assert seg["start"] == 0.0 and seg["end"] == got[name]["duration"]
    # White noise at 10 dB SNR is at the edge of what the tiny test model was trained on (10-35 dB, 30% of its
    # utterances): it loses a word of the longer strings by itself, so only most are required to be right.
    assert sum(right["snr10"]) >= 2, right


def test_the_api_raises_one_line_errors_for_bad_waveforms(digits_model):
    path, _ = digits_model
    model = asr.load_model(path)
    x = np.zeros(SR, np.float32)
    x[100] = np.nan
    with pytest.raises(UserError, match=r"<waveform>: 1 of 16000 samples are NaN or infinite \(the first at 0\.006 s\)"):
        model.transcribe(x)
    with pytest.raises(UserError, match="no audio samples"):
        model.transcribe(np.zeros(0, np.float32))
    result = model.transcribe(np.zeros(SR, np.float32))
    assert result.text == "" and result.no_speech and result.to_dict()["no_speech"] is True


def test_a_dc_offset_or_a_quiet_level_changes_nothing_the_model_hears(digits_model):
    """The model's input is the same file's with the offset removed; a level inside the training range is
    left as it is, so the transcript and the word times do not move."""
    path, heldout = digits_model
    model = asr.load_model(path)
    wav, text = recognised(path, heldout)[1]
    x, _ = sf.read(wav, dtype="float32")
    a = model.transcribe(x)
    b = model.transcribe(x + 0.3)
    c = model.transcribe(soxr.resample(x * 10 ** (-50 / 20), SR, 8000), sample_rate=8000)  # 50 dB down, 8 kHz
    assert a.text == b.text == c.text == text
    words = lambda r: [(w.word, w.start, w.end) for s in r.segments for w in s.words]
    assert words(a) == words(b)
    assert [w for w, *_ in words(c)] == text.split()
