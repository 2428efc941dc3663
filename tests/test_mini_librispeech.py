"""Mini LibriSpeech: train-clean-5's speaker-disjoint dev split (dev-clean-2 when it is there), and the guard that
keeps dev sentences out of LM text (`--held-out`), on a small fake corpus in LibriSpeech's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.corpora.librispeech import prepare_librispeech
from asr.data.lm_data import read_sentences, refuse_held_out
from asr.errors import UserError


def fake_part(root: Path, part: str, speakers: dict[str, list[str]]) -> None:
    """LibriSpeech/{part}/{speaker}/{chapter}/{speaker}-{chapter}-{utt}.flac and its .trans.txt."""
    for speaker, texts in speakers.items():
        chapter = root / "LibriSpeech" / part / speaker / "10"
        chapter.mkdir(parents=True)
        lines = []
        for n, text in enumerate(texts):
            uid = f"{speaker}-10-{n:04d}"
            sf.write(chapter / f"{uid}.flac", np.random.default_rng(n).uniform(-0.1, 0.1, 8000), 16000)
            lines.append(f"{uid} {text.upper()}")
        (chapter / f"{speaker}-10.trans.txt").write_text("\n".join(lines) + "\n")


TRAIN5 = {"19": ["a cat sat on the mat"], "32": ["the dog ran far away today"], "1970": ["she said nothing at all"],
          "2136": ["he walked along the river bank", "it was late"]}


def speakers(cuts) -> set[str]:
    return {c.supervisions[0].speaker for c in cuts}


def test_without_dev_clean_2_named_speakers_of_train_clean_5_are_dev(tmp_path):
    fake_part(tmp_path, "train-clean-5", TRAIN5)
    cuts = prepare_librispeech(tmp_path / "out", root=tmp_path, num_jobs=1, dev_speakers="1970,2136")
    assert speakers(cuts["dev"]) == {"1970", "2136"} and speakers(cuts["train"]) == {"19", "32"}
    assert len(cuts["dev"]) == 3 and len(cuts["train"]) + len(cuts["dev"]) == len(cuts["train-clean-5"])
    assert (tmp_path / "out" / "dev_cuts.jsonl.gz").is_file()


def test_dev_clean_2_is_dev_when_there(tmp_path):
    fake_part(tmp_path, "train-clean-5", TRAIN5)
    fake_part(tmp_path, "dev-clean-2", {"84": ["a different voice"]})
    cuts = prepare_librispeech(tmp_path / "out", root=tmp_path, num_jobs=1)
    assert speakers(cuts["dev"]) == {"84"} and speakers(cuts["train"]) == set(TRAIN5)


def test_unknown_dev_speaker_is_one_clear_error(tmp_path):
    fake_part(tmp_path, "train-clean-5", TRAIN5)
    with pytest.raises(UserError, match="not in train-clean-5"):
        prepare_librispeech(tmp_path / "out", root=tmp_path, num_jobs=1, dev_speakers="9999")


def test_lm_text_with_a_dev_sentence_is_refused(tmp_path, capsys):
    fake_part(tmp_path, "train-clean-5", TRAIN5)
    prepare_librispeech(tmp_path / "out", root=tmp_path, num_jobs=1, dev_speakers="1970,2136")
    train, dev = tmp_path / "out" / "train_cuts.jsonl.gz", tmp_path / "out" / "dev_cuts.jsonl.gz"
    refuse_held_out(read_sentences(manifests=[train]), [dev])  # the recipe's LM text: train transcripts only
    assert "none of them in" in capsys.readouterr().out
    leaky = tmp_path / "lm.txt"
    leaky.write_text("some other sentence\nIt was late.\n")  # a dev sentence, cased and punctuated differently
    with pytest.raises(UserError, match="1 sentence"):
        refuse_held_out(read_sentences(texts=[leaky], manifests=[train]), [dev])
