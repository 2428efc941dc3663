"""Every corpus `asr prepare` knows: name -> (prepare function, options adder, one-line help).

To add a corpus, write `asr/corpora/<name>.py` with
    prepare_<name>(out_dir: Path, ...) -> dict[str, CutSet]     # writes {out_dir}/{split}_*.jsonl.gz
    add_arguments(parser) -> None                              # one option per extra parameter, same `dest`
and add one line to CORPORA. The prepare command parses `--out` (as `out_dir`) and the corpus's own options,
then calls the prepare function with exactly the parsed values whose names are its parameters.

Keep corpus modules cheap to import (lhotse, which pulls in torch, inside functions): `asr --help` imports this.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asr.corpora import (an4, commonvoice, fsdd, librispeech, librispeech_lm, ljspeech, mustc, tedlium,
                         tts_digits, tts_sentences, tts_translation, yesno)

if TYPE_CHECKING:
    from lhotse import CutSet


@dataclass(frozen=True)
class Corpus:
    prepare: Callable[..., dict[str, CutSet]]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    help: str


CORPORA: dict[str, Corpus] = {
    "tts-digits": Corpus(tts_digits.prepare_tts_digits, tts_digits.add_arguments,
                         "connected digits spoken by espeak-ng/flite/festival voices; test voices unheard in train"),
    "tts-sentences": Corpus(tts_sentences.prepare_tts_sentences, tts_sentences.add_arguments,
                            "1,000+ word English sentences, same voices; test sentences never in train"),
    "tts-translation": Corpus(tts_translation.prepare_tts_translation, tts_translation.add_arguments,
                              "German sentences spoken by espeak-ng's voices with their English translations "
                              "(or the reverse): speech translation offline"),
    "an4": Corpus(an4.prepare_an4, an4.add_arguments,
                  "CMU AN4, real 16 kHz speech of 84 people: names, digits, commands (../shared/data/an4 or --root)"),
    "fsdd": Corpus(fsdd.prepare_fsdd, fsdd.add_arguments,
                   "Free Spoken Digit Dataset, real 8 kHz recordings (../shared/data/fsdd or --root)"),
    # public corpora through lhotse's recipes (asr/corpora/public.py): --root is the corpus folder or the folder
    # holding it; without --download they prepare what is there
    "librispeech": Corpus(librispeech.prepare_librispeech, librispeech.add_arguments,
                          "LibriSpeech: the parts under --root, or --parts mini (5 h), 100, 960 or part names"),
    "librispeech-lm": Corpus(librispeech_lm.prepare_librispeech_lm, librispeech_lm.add_arguments,
                             "LibriSpeech's official 3/4-gram ARPA LMs and LM text (OpenSLR 11), md5-checked"),
    "commonvoice": Corpus(commonvoice.prepare_commonvoice, commonvoice.add_arguments,
                          "Mozilla Common Voice, one --language (any script; zh, ja, th, ... split into characters)"),
    "tedlium": Corpus(tedlium.prepare_tedlium, tedlium.add_arguments, "TED-LIUM 3 talks, one cut per segment"),
    "mustc": Corpus(mustc.prepare_mustc, mustc.add_arguments,
                    "MuST-C English TED talks with translations (--target de, fr, ...), one cut per segment; "
                    "manual download"),
    "ljspeech": Corpus(ljspeech.prepare_ljspeech, ljspeech.add_arguments, "LJ Speech, one speaker, 24 h"),
    "yesno": Corpus(yesno.prepare_yesno, yesno.add_arguments, "Kaldi's yes/no: 60 Hebrew recordings at 8 kHz"),
}
