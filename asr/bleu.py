"""Translation quality with sacrebleu, as the speech-translation anchors report it (ESPnet's st1 recipes, fairseq
S2T, the IWSLT tables): corpus-level BLEU (13a tokenisation, exponential smoothing) and chrF (character 6-grams,
beta 2), on detokenised text, every utterance counted, with sacrebleu's signature so a number names its settings.

    s = translation_scores(["the red table"], ["the red table"])
    s.bleu, s.chrf, s.signature       # 100.0, 100.0, "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import sacrebleu


@dataclass(frozen=True)
class TranslationScores:
    bleu: float  # 0-100
    chrf: float  # 0-100
    utterances: int
    hyp_words: int
    ref_words: int
    signature: str  # sacrebleu's BLEU signature: the settings the number was computed with

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return (f"BLEU {self.bleu:.2f}  chrF {self.chrf:.2f}  on {self.utterances} utterances "
                f"({self.hyp_words} / {self.ref_words} hypothesis / reference words; sacrebleu {self.signature})")


def translation_scores(refs: list[str], hyps: list[str]) -> TranslationScores:
    """Corpus BLEU and chrF of `hyps` against one reference each (same order, same length)."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(hyps, [refs])
    c = chrf.corpus_score(hyps, [refs])
    return TranslationScores(round(b.score, 2), round(c.score, 2), len(refs), sum(len(h.split()) for h in hyps),
                             sum(len(r.split()) for r in refs), str(bleu.get_signature()))
