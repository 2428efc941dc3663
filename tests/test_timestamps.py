"""Word timestamps and confidences, checked against words synthesised one by one and joined at known offsets."""

import random

import librosa
import numpy as np
import pytest

import asr
from asr.inference.evaluation import word_alignment
from asr.model import ModelConfig
from asr.inference.timestamps import FrameClock, word_groups
from asr.tokenizer import train_tokenizer
from trained_model import DIGITS, speak

SR = 16_000
TOLERANCE_S = 0.15  # encoder frames are 80 ms; edges come from 10 ms energies


def joined_words(tmp_path, words: list[str], voice: str, seed: int = 0, gaps: tuple[float, float] = (0.12, 0.6)):
    """Each word spoken alone, trimmed to its sound, placed after a pause of known length (drawn from `gaps`).

    -> waveform (S,), [(word, true start, true end)]."""
    rng = random.Random(seed)
    pieces, truth, t = [np.zeros(round(0.6 * SR), np.float32)], [], 0.6
    for i, w in enumerate(words):
        audio = speak(w, voice, tmp_path / f"w{i}.wav", wpm=165)
        audio, _ = librosa.effects.trim(audio, top_db=35, frame_length=256, hop_length=64)
        truth.append((w, t, t + len(audio) / SR))
        gap = rng.uniform(*gaps)  # by default some shorter than a segment-splitting pause, some longer
        pieces += [audio, np.zeros(round(gap * SR), np.float32)]
        t += len(audio) / SR + gap
    pieces.append(np.zeros(round(0.5 * SR), np.float32))
    return np.concatenate(pieces), truth


def test_frame_clock_of_x8_subsampling():
    clock = FrameClock.of(ModelConfig(subsampling=8))
    assert clock.frame_s == pytest.approx(0.08)
    # receptive field 15 feature frames -> centre at frame 7: 70 ms + half a 25 ms window
    assert clock.first_centre_s == pytest.approx(0.0825)
    assert FrameClock.of(ModelConfig(subsampling=4)).frame_s == pytest.approx(0.04)


def test_word_groups_for_each_tokenizer_kind():
    char = train_tokenizer(["ab c"], "char")
    ids = char.encode("ab c ab")  # a b | c | a b
    assert word_groups(ids, char) == [[0, 1], [3], [5, 6]]
    word = train_tokenizer(["one two"], "word")
    assert word_groups(word.encode("two one two"), word) == [[0], [1], [2]]


def checked_pairs(got, truth):
    """(predicted Word, (word, start, end)) for the words recognised correctly with correct neighbours: an
    inserted or wrong neighbour takes part of a word's time, which is the recogniser's error, not the aligner's."""
    pairs = word_alignment(" ".join(w for w, *_ in truth), " ".join(w.word for w in got))
    out, r, h = [], 0, 0
    for k, (kind, _, _) in enumerate(pairs):
        clean = all(pairs[j][0] == "equal" for j in (k - 1, k, k + 1) if 0 <= j < len(pairs))
        if clean:
            out.append((got[h], truth[r]))
        r += kind != "insert"
        h += kind != "delete"
    return out


def test_word_times_match_known_boundaries(digits_model, tmp_path):
    path, _ = digits_model
    model = asr.load_model(path)
    rng = random.Random(3)
    words = [rng.choice(DIGITS) for _ in range(10)]
    wave, truth = joined_words(tmp_path, words, "en-us+f4")
    # 10.6 s would be decoded whole (<= max_segment_s), and the tiny model, trained on at most 5 digits, inserts
    # a word into 10 of them; cut at the pauses by the VAD, as a longer recording would be.
    result = model.transcribe(wave, sample_rate=SR, max_segment_s=5.0)
    got = [w for seg in result.segments for w in seg.words]
    pairs = checked_pairs(got, truth)
    assert len(pairs) >= 7, (result.text, words)
    for w, (word, start, end) in pairs:
        assert w.word == word
        assert abs(w.start - start) <= TOLERANCE_S, (w, start, end)
        assert abs(w.end - end) <= TOLERANCE_S, (w, start, end)
    assert all(0.0 <= w.confidence <= 1.0 for w in got)
    assert np.median([w.confidence for w, _ in pairs]) > 0.5  # words it gets right, it is fairly sure of
    for seg in result.segments:  # words lie inside their segments, in order
        assert seg.start <= seg.words[0].start and seg.words[-1].end <= seg.end + 1e-6
        assert all(a.end <= b.start + 1e-6 for a, b in zip(seg.words, seg.words[1:]))


def test_word_times_without_pauses_between_words(digits_model, tmp_path):
    path, _ = digits_model
    model = asr.load_model(path)
    words = ["two", "nine", "one", "four", "three", "eight"]
    wave, truth = joined_words(tmp_path, words, "en-gb+m3", gaps=(0.0, 0.0))
    result = model.transcribe(wave, sample_rate=SR)
    assert len(result.segments) == 1
    pairs = checked_pairs(result.segments[0].words, truth)
    assert len(pairs) >= 4, result.text
    for w, (_, start, end) in pairs:
        assert abs(w.start - start) <= TOLERANCE_S and abs(w.end - end) <= TOLERANCE_S, (w, start, end)


def test_timestamps_survive_a_sample_rate_change(digits_model, tmp_path):
    path, _ = digits_model
    model = asr.load_model(path)
    wave, truth = joined_words(tmp_path, ["four", "two", "eight"], "en-gb+m3", seed=5)
    wave44 = librosa.resample(wave, orig_sr=SR, target_sr=44_100)
    got = [w for seg in model.transcribe(wave44, sample_rate=44_100).segments for w in seg.words]
    pairs = checked_pairs(got, truth)
    assert len(pairs) >= 2, got
    for w, (_, start, end) in pairs:
        assert abs(w.start - start) <= TOLERANCE_S and abs(w.end - end) <= TOLERANCE_S
