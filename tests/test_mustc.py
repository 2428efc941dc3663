"""MuST-C through lhotse's recipe, on a tiny copy of its layout: en-de/data/{split}/txt/{split}.{en,de,yaml} + wav/."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet

from asr.corpora.mustc import add_arguments, prepare_mustc
from asr.errors import UserError
from asr.text import normalise_text

RATE = 16000
# MuST-C folder -> talk -> [(offset, duration, English, German)]; lines of a split are in this order
TALKS = {
    "train": {
        "ted_1": [(0.2, 1.5, "Thank you so much, Chris.", "Vielen Dank, Chris."),
                  (1.8, 1.0, "It's truly a great honour.", "Es ist mir wirklich eine Ehre."),
                  (3.0, 0.8, "I'm flattered!", "Ich fühle mich geehrt!")],
        "ted_2": [(0.0, 2.0, "Good morning, everyone.", " Guten Morgen zusammen. "),
                  (2.5, 1.25, "How are you? \"Great\", you say.", "Wie geht's? „Gut“, sagen Sie.")],
    },
    "dev": {"ted_3": [(0.5, 1.0, "This is the dev talk.", "Das ist der Dev-Vortrag."),
                      (2.0, 1.5, "And its second sentence.", "Und sein zweiter Satz.")]},
    "tst-COMMON": {"ted_4": [(0.1, 2.2, "Test, one two.", "Test, eins zwei."),
                             (2.5, 1.0, "The end.", "Das Ende.")]},
}


def write_split(data: Path, folder: str, talks: dict[str, list[tuple[float, float, str, str]]]) -> None:
    (data / folder / "txt").mkdir(parents=True)
    (data / folder / "wav").mkdir()
    yaml, en, de = [], [], []
    for n, (talk, segments) in enumerate(talks.items()):
        t = np.arange(4 * RATE) / RATE
        tone = 0.1 * np.sin(2 * np.pi * (200 + 50 * n) * t)
        sf.write(data / folder / "wav" / f"{talk}.wav", tone.astype(np.float32), RATE)
        speaker = talk.replace("ted_", "spk.")
        for offset, duration, english, german in segments:
            yaml.append(f"- {{duration: {duration}, offset: {offset}, rW: 3, uW: 0, speaker_id: {speaker}, "
                        f"wav: {talk}.wav}}\n")
            en.append(english + "\n")
            de.append(german + "\n")
    for suffix, lines in (("yaml", yaml), ("en", en), ("de", de)):
        (data / folder / "txt" / f"{folder}.{suffix}").write_text("".join(lines), encoding="utf-8")


@pytest.fixture
def mustc(tmp_path) -> Path:
    """The folder holding en-de/, as unpacked from MuST-C's en-de archive (without tst-HE)."""
    root = tmp_path / "MUST-C"
    for folder, talks in TALKS.items():
        write_split(root / "en-de" / "data", folder, talks)
    return root


@pytest.mark.parametrize("given", ["parent", "en-de"])
def test_splits_carry_english_text_and_german_translation(mustc, tmp_path, capsys, given):
    root = mustc if given == "parent" else mustc / "en-de"
    out = tmp_path / "data"
    cuts = prepare_mustc(out, root, num_jobs=2)
    assert list(cuts) == ["train", "dev", "test"]
    assert f"mustc: preparing train, dev, test, found in {mustc / 'en-de'} (choose with --splits)" in \
        capsys.readouterr().out.splitlines()
    assert [len(cuts[s]) for s in cuts] == [5, 2, 2]
    for split, folder in (("train", "train"), ("dev", "dev"), ("test", "tst-COMMON")):
        written = CutSet.from_file(out / f"{split}_cuts.jsonl.gz")
        by_id = {c.supervisions[0].id: c for c in written}
        assert len(by_id) == len(written)
        for talk, segments in TALKS[folder].items():
            for i, (offset, duration, english, german) in enumerate(segments):
                cut = by_id[f"{talk}-seg-{i}"]
                sup = cut.supervisions[0]
                assert sup.text == normalise_text(english)
                assert sup.custom == {"translated_text": {"de": german.strip()}}
                assert sup.language == "en" and sup.speaker == talk.replace("ted_", "spk.")
                assert cut.recording_id == talk
                assert cut.start == pytest.approx(offset) and cut.duration == pytest.approx(duration)
    # the second talk's second segment: the fifth line of train.en and train.de
    second = next(c for c in cuts["train"] if c.supervisions[0].id == "ted_2-seg-1")
    assert second.supervisions[0].text == "how are you great you say"
    assert second.supervisions[0].custom["translated_text"]["de"] == "Wie geht's? „Gut“, sagen Sie."
    assert second.load_audio().shape == (1, 20000)  # 1.25 s from 2.5 s into ted_2.wav


def test_splits_option_and_preparing_twice(mustc, tmp_path, capsys):
    out = tmp_path / "data"
    first = prepare_mustc(out, mustc, splits="tst-COMMON,dev")  # MuST-C's names map to ours
    assert list(first) == ["test", "dev"]
    capsys.readouterr()
    again = prepare_mustc(out, mustc, splits=["test"])
    assert "exists; kept" in capsys.readouterr().out
    assert [c.supervisions[0].custom for c in again["test"]] == [c.supervisions[0].custom for c in first["test"]]
    (mustc / "en-fr").symlink_to(mustc / "en-de")
    with pytest.raises(UserError, match="without fr translations"):  # another language needs another --out
        prepare_mustc(out, mustc / "en-fr", target="fr", splits="test")
    with pytest.raises(UserError, match="unknown MuST-C split"):
        prepare_mustc(out, mustc, splits="eval")


def test_missing_corpus_is_one_line_saying_where_to_get_it(tmp_path):
    with pytest.raises(UserError) as e:
        prepare_mustc(tmp_path / "data", tmp_path / "nowhere")
    message = str(e.value)
    assert "\n" not in message
    for piece in ("https://ict.fbk.eu/must-c/", "en-de/data/{train,dev,tst-COMMON}", str(tmp_path / "nowhere")):
        assert piece in message


def test_other_language_folder_asks_for_target(mustc, tmp_path):
    (mustc / "en-de").rename(mustc / "en-fr")
    with pytest.raises(UserError, match="add --target fr"):
        prepare_mustc(tmp_path / "data", mustc / "en-fr")


def test_mismatched_line_counts(mustc, tmp_path):
    de = mustc / "en-de" / "data" / "dev" / "txt" / "dev.de"
    de.write_text(de.read_text(encoding="utf-8") + "Ein Satz zu viel.\n", encoding="utf-8")
    with pytest.raises(UserError, match="must match line for line"):
        prepare_mustc(tmp_path / "data", mustc, splits="dev")


def test_options_are_prepare_parameters():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    dests = {a.dest for a in parser._actions} - {"help"}
    assert dests <= set(inspect.signature(prepare_mustc).parameters)
    args = parser.parse_args(["--root", "x", "--target", "fr", "--splits", "dev", "--num-jobs", "1"])
    assert (args.root, args.target, args.splits, args.num_jobs) == (Path("x"), "fr", "dev", 1)
