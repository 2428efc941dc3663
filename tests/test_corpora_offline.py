"""The offline corpora: tts-digits, tts-sentences (synthesised here, tiny) and FSDD (a fixture in its real layout).

Usage:
    .venv/bin/python -m pytest -q tests/test_corpora_offline.py
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, RecordingSet, SupervisionSet, load_manifest

from asr.cli import main
from asr.corpora import fsdd, sentences, tts_synth
from asr.corpora.registry import CORPORA
from asr.corpora.summary import SPLITS, summarise, vocabulary
from asr.corpora.tts_digits import DIGIT_WORDS, VOCABULARY, prepare_tts_digits
from asr.corpora.tts_sentences import prepare_tts_sentences, shared_texts, split_texts
from asr.corpora.tts_voices import Voice, available_voices, split_voices
from asr.text import normalise_text

TINY_HOURS = 0.005  # ~12 utterances: every dev/test voice once, a few training ones


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, dict[str, CutSet]]:
    out = tmp_path_factory.mktemp("tts-digits")
    return out, prepare_tts_digits(out, hours=TINY_HOURS, seed=3, jobs=2)


def speakers(cuts: CutSet) -> set[str]:
    return {s.speaker for c in cuts for s in c.supervisions}


def test_tts_digits_manifests_load_with_lhotse(digits):
    out, cuts = digits
    for split in SPLITS:
        recordings = load_manifest(out / f"{split}_recordings.jsonl.gz")
        supervisions = load_manifest(out / f"{split}_supervisions.jsonl.gz")
        loaded = CutSet.from_file(out / f"{split}_cuts.jsonl.gz")
        assert isinstance(recordings, RecordingSet) and isinstance(supervisions, SupervisionSet)
        assert len(recordings) == len(supervisions) == len(loaded) == len(cuts[split]) > 0
        assert sorted(loaded.ids) == sorted(recordings.ids)


def test_tts_digits_split_by_voice(digits):
    _, cuts = digits
    voices = {split: speakers(cuts[split]) for split in SPLITS}
    assert not voices["train"] & voices["test"] and not voices["train"] & voices["dev"]
    assert not voices["dev"] & voices["test"]
    # Held out by timbre: no training voice uses a test voice's espeak variant or recorded person.
    catalogue = {v.id: v for v in available_voices(VOCABULARY)}
    timbres = {split: {catalogue[v].timbre for v in voices[split]} for split in SPLITS}
    assert not timbres["train"] & timbres["test"]
    engines = {c.custom["engine"] for c in cuts["test"]}
    assert "espeak" in engines and engines & {"flite", "festival"}, engines


def test_tts_digits_audio_is_16k_mono_speech(digits):
    _, cuts = digits
    for cut in [c for split in SPLITS for c in cuts[split]]:
        assert cut.sampling_rate == 16_000 and cut.num_channels == 1
        audio = cut.load_audio()  # (1, S)
        assert audio.shape == (1, cut.num_samples)
        assert np.sqrt(np.mean(audio**2)) > 0.01, cut.id
        text = cut.supervisions[0].text
        assert text == normalise_text(text) and set(text.split()) <= set(DIGIT_WORDS) | {"oh"}
        assert 1 <= len(text.split()) <= 7


def test_tts_digits_rerun_reuses_and_same_seed_is_same_corpus(digits, tmp_path):
    out, cuts = digits
    wavs = sorted((out / "wav").rglob("*.wav"))
    mtimes = [p.stat().st_mtime_ns for p in wavs]
    again = prepare_tts_digits(out, hours=TINY_HOURS, seed=3, jobs=2)
    assert [p.stat().st_mtime_ns for p in wavs] == mtimes  # nothing re-synthesised
    assert list(again["test"].ids) == list(cuts["test"].ids)

    fresh = prepare_tts_digits(tmp_path, hours=TINY_HOURS, seed=3, jobs=1)
    for split in SPLITS:
        def rows(cs):
            return [(c.supervisions[0].text, c.supervisions[0].speaker) for c in cs]
        assert rows(fresh[split]) == rows(cuts[split])
    first = cuts["train"][0]
    np.testing.assert_array_equal(fresh["train"][0].load_audio(), first.load_audio())


def test_different_seed_gives_different_texts():
    voices = split_voices(available_voices())
    sizes = tts_synth.split_sizes(0.2, 1.5, {s: len(v) for s, v in voices.items()})
    texts_a = split_texts(sizes, seed=0)
    plan_a = tts_synth.plan("x", texts_a, voices, seed=0)
    plan_b = tts_synth.plan("x", split_texts(sizes, seed=1), voices, seed=1)
    assert [u.text for u in plan_a["train"]] != [u.text for u in plan_b["train"]]
    assert plan_a == tts_synth.plan("x", texts_a, voices, seed=0)


def test_a_failing_voice_does_not_stop_the_others(tmp_path):
    good = next(v for v in available_voices() if v.engine == "espeak")
    bad = Voice("espeak/nonexistent", "espeak", "nonexistent", "espeak:none", "xx")
    utts = [tts_synth.Utterance(f"u{i}", "train", "one two", voice, 1.0, 1.0, 0.5)
            for i, voice in enumerate([good, bad, good])]
    done = tts_synth.synthesise(utts, tmp_path, jobs=1)
    assert sorted(done) == ["u0", "u2"]


def test_sentence_grammar_vocabulary_and_text():
    vocab = sentences.vocabulary()
    assert len(vocab) >= 1000
    rng = random.Random(0)
    said = [sentences.sentence(rng) for _ in range(3000)]
    assert all(s == normalise_text(s) for s in said)
    assert {w for s in said for w in s.split()} <= vocab
    assert len(set(said)) > 2900  # the grammar is far from exhausted


def test_sentence_splits_are_disjoint():
    texts = split_texts({"train": 3000, "dev": 200, "test": 400}, seed=0)
    assert {k: len(v) for k, v in texts.items()} == {"train": 3000, "dev": 200, "test": 400}
    assert not set(texts["test"]) & set(texts["train"]) and not set(texts["dev"]) & set(texts["train"])


def test_tts_sentences_tiny(tmp_path):
    cuts = prepare_tts_sentences(tmp_path, hours=TINY_HOURS, seed=0, jobs=1, lm_sentences=500)
    assert not shared_texts(cuts["test"], cuts["train"])
    lm_text = (tmp_path / "lm_text.txt").read_text().splitlines()
    spoken = {s.text for split in SPLITS for c in cuts[split] for s in c.supervisions}
    assert len(lm_text) == 500 and not spoken & set(lm_text)  # LM text never holds a sentence of any split
    assert speakers(cuts["test"]).isdisjoint(speakers(cuts["train"]))
    for split in SPLITS:
        s = summarise(cuts[split])
        assert s.utterances == len(cuts[split]) > 0 and s.vocabulary > 3
    assert shared_texts(cuts["train"], cuts["train"])  # the checker does see a shared sentence


# ---- FSDD, in its real layout: recordings/{digit}_{speaker}_{take}.wav at 8 kHz ----

SPEAKERS = ("george", "jackson", "nicolas", "yweweler")


def make_fsdd(root: Path, takes: int = 50, speakers=SPEAKERS) -> Path:
    rec = root / "recordings"
    rec.mkdir(parents=True)
    t = np.arange(800) / 8000  # 0.1 s
    for d in range(10):
        for k, spk in enumerate(speakers):
            wav = io.BytesIO()  # encoded once per digit and speaker: 2,000 soundfile writes are slow
            tone = 0.3 * np.sin(2 * np.pi * (200 + 30 * d + 7 * k) * t)
            sf.write(wav, tone.astype(np.float32), 8000, subtype="PCM_16", format="WAV")
            for take in range(takes):
                (rec / f"{d}_{spk}_{take}.wav").write_bytes(wav.getvalue())
    (root / "README.md").write_text("fixture\n")
    return root


@pytest.fixture(scope="module")
def fsdd_root(tmp_path_factory) -> Path:
    return make_fsdd(tmp_path_factory.mktemp("fsdd"))


def test_fsdd_customary_split(fsdd_root, tmp_path):
    cuts = fsdd.prepare_fsdd(fsdd_root, tmp_path, split="customary")
    assert {s: len(c) for s, c in cuts.items()} == {"train": 1600, "dev": 200, "test": 200}
    assert {c.custom["take"] for c in cuts["test"]} == set(range(5))
    assert min(c.custom["take"] for c in cuts["train"]) >= 10
    cut = cuts["test"][0]
    assert cut.sampling_rate == 8000  # referenced in place, resampled when loaded
    assert cut.supervisions[0].text == DIGIT_WORDS[int(cut.id.split("_")[0])]
    assert cut.resample(16000).load_audio().shape == (1, 1600)
    assert "CC BY-SA 4.0" in (tmp_path / "ATTRIBUTION.md").read_text()


def test_fsdd_speaker_split_holds_a_speaker_out(fsdd_root, tmp_path):
    cuts = fsdd.prepare_fsdd(fsdd_root, tmp_path, split="speaker", test_speaker="nicolas")
    assert speakers(cuts["test"]) == {"nicolas"} and len(cuts["test"]) == 500
    assert "nicolas" not in speakers(cuts["train"]) | speakers(cuts["dev"])
    assert len(cuts["train"]) + len(cuts["dev"]) == 1500


def test_fsdd_skips_an_unreadable_file(tmp_path, capsys):
    root = make_fsdd(tmp_path / "fsdd", takes=12, speakers=("jackson",))
    (root / "recordings" / "3_jackson_11.wav").write_bytes(b"not a wav file")
    cuts = fsdd.prepare_fsdd(root, tmp_path / "out")
    assert sum(len(c) for c in cuts.values()) == 119
    assert "3_jackson_11.wav" in capsys.readouterr().err


def test_cli_prepare_fsdd_prints_summary(fsdd_root, tmp_path, capsys):
    assert main(["prepare", "fsdd", "--root", str(fsdd_root), "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "fsdd train: 1,600 utterances, 0.04 h, 4 speakers, vocabulary 10 words" in lines
    assert any(line.startswith("fsdd test: 200 utterances") for line in lines)
    assert (tmp_path / "test_cuts.jsonl.gz").exists()


@pytest.mark.parametrize("argv, message", [
    (["prepare", "no-such-corpus", "--out", "x"], "unknown corpus 'no-such-corpus'"),
    (["prepare", "fsdd", "--root", "/no/such/fsdd", "--out", "x"], "no FSDD recordings at /no/such/fsdd"),
])
def test_cli_user_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_fsdd_missing_default_root_is_a_user_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fsdd, "default_root", lambda: None)
    assert main(["prepare", "fsdd", "--out", str(tmp_path)]) == 2
    assert "--root" in capsys.readouterr().err


def test_prepare_help_lists_every_corpus(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["prepare", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in CORPORA)
