"""Accented natural voices: other languages' festival persons reading respelled English digits.

Usage:
    .venv/bin/python -m pytest -q tests/test_tts_accents.py
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asr.corpora import tts_synth
from asr.corpora.tts_accents import ACCENTED_FESTIVAL, RESPELLINGS, accented_voices, respell, respellable
from asr.corpora.tts_digits import VOCABULARY
from asr.corpora.tts_voices import available_voices, festival_script, split_voices
from asr.corpora.sentences import vocabulary as sentence_vocabulary

INSTALLED = [v for v in available_voices(VOCABULARY) if v.language != "english"]
needs_voices = pytest.mark.skipif(not INSTALLED, reason="no accented festival voice installed "
                                                         "(tools/install_system_deps.sh installs them)")


def test_every_language_respells_every_digit_word_and_only_those():
    for language, words in RESPELLINGS.items():
        assert respellable(language, VOCABULARY), language
        assert not respellable(language, VOCABULARY | {"hello"}), language
        assert len(set(words.values())) == len(words), f"{language}: two words share a respelling"
    assert not respellable("klingon", VOCABULARY) and not respellable("italian", frozenset())
    assert respell("italian", "three oh nine") == "tri ou nain"
    assert respell("english", "three oh nine") == "three oh nine"
    # The Latin-script prompts are ASCII: festival's front ends for them misread UTF-8 accents.
    for language in ("italian", "czech", "finnish", "catalan"):
        assert all(w.isascii() for w in RESPELLINGS[language].values()), language


def test_accented_voices_only_for_a_respellable_vocabulary():
    installed = ["lp_diphone", "czech_dita", "kal_diphone", "marathi_NSK_diphone"]
    chosen = accented_voices(installed, VOCABULARY)
    assert [(a.voice, a.person, a.language) for a in chosen] == [("lp_diphone", "lp", "italian"),
                                                                 ("czech_dita", "dita", "czech")]
    assert accented_voices(installed, frozenset(sentence_vocabulary())) == []


@needs_voices
def test_digits_get_accented_persons_and_sentences_do_not():
    assert not [v for v in available_voices() if v.language != "english"]
    splits = split_voices(available_voices(VOCABULARY))
    persons = {split: {v.timbre for v in voices if v.engine != "espeak"} for split, voices in splits.items()}
    assert "person:pc" in persons["dev"]  # checkpoints are chosen on a natural voice never trained on
    assert not persons["train"] & persons["dev"] and not persons["train"] & persons["test"]
    assert len(persons["train"]) > len({p for p, _ in ACCENTED_FESTIVAL.values()}) // 2


@needs_voices
def test_festival_reads_the_respelling_and_keeps_the_english_text(tmp_path):
    voice = INSTALLED[0]
    script = festival_script(voice, [("three oh nine", 1.0, 1.0, tmp_path / "x.wav")])
    assert respell(voice.language, "three oh nine") in script and "three oh nine" not in script
    utts = [tts_synth.Utterance(f"u-{v.name}", "train", "three oh nine", v, 1.0, 1.0, 0.5) for v in INSTALLED]
    done = tts_synth.synthesise(utts, tmp_path, jobs=1)
    assert sorted(done) == sorted(u.id for u in utts)  # every voice renders
    for u in utts:
        audio, rate = sf.read(str(tts_synth.wav_path(tmp_path, u)))
        # Three digits take about a second and a half; a voice that spelled its prompt letter by letter (what
        # the Czech front end does with UTF-8 accents) takes several seconds.
        assert rate == 16_000 and 0.6 < len(audio) / rate < 3.0, (u.voice.id, len(audio) / rate)
        assert np.sqrt(np.mean(audio**2)) > 0.01, u.voice.id
