"""Score a speech-translation model (`ModelConfig.task == "translate"`) as ESPnet's st1 recipes report one: BLEU
and chrF of the decoder's translations (sacrebleu, corpus level, `asr.bleu`), and the WER of what its CTC head
transcribes of the source (its best path) against the transcripts.

    ev = evaluate_translation(model, {"test": cuts}, TranscribeOptions(word_timestamps=False))
    ev.scores.bleu, ev.scores.chrf, ev.transcript.report.wer

The protocol is `asr.inference.evaluation`'s: every cut decoded whole, one that cannot be decoded scored as an empty
output (no utterance dropped). References are the supervisions' `custom["translated_text"][target]`, normalised
as the hypotheses are (lower case, no punctuation: ESPnet's "lc.rm" scoring), so a corpus with cased, punctuated
translations (MuST-C) is scored case-insensitively without punctuation, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from asr.bleu import TranslationScores, translation_scores
from asr.inference.evaluation import Evaluation, evaluate_views
from asr.inference.options import TranscribeOptions
from asr.inference.transcriber import Transcriber
from asr.text import cut_text, cut_translation

if TYPE_CHECKING:
    from lhotse import CutSet

SCORED_TEXT = "lower case, no punctuation (ESPnet's lc.rm)"


@dataclass
class TranslationEvaluation:
    translation: Evaluation  # the decoder's translations against the references (word errors per utterance too)
    transcript: Evaluation  # the CTC head's best path against the source transcripts
    scores: TranslationScores  # BLEU and chrF of `translation`, with sacrebleu's signature
    target: str  # the references' language


def evaluate_translation(model: Transcriber, cuts: CutSet | Mapping[str, CutSet], opts: TranscribeOptions,
                         on_audio: Callable[[float], None] | None = None,
                         on_error: Callable[[str], None] | None = None,
                         max_segment_s: float | None = None) -> TranslationEvaluation:
    """Translate every cut and score it against its translation, and score what the CTC head read of the source
    in the same pass (`Transcript.source_text`: one encoder run per cut) against its transcript."""
    target = model.net.cfg.target_language
    views = {"translation": (lambda cut: cut_translation(cut, target), lambda t: t.text),
             "transcript": (cut_text, lambda t: t.source_text or "")}
    ev = evaluate_views(model, cuts, replace(opts, task="translate"), views, on_audio, on_error, max_segment_s)
    translated, transcribed = ev["translation"], ev["transcript"]
    return TranslationEvaluation(translated, transcribed, translation_scores(translated.refs, translated.hyps), target)


def translation_report(ev: TranslationEvaluation, settings_line: str) -> str:
    """The lines `asr evaluate` prints for a translation model."""
    t = ev.transcript.report
    return "\n".join([
        settings_line,
        f"translation into {ev.target}, scored on {SCORED_TEXT}:",
        f"  {ev.scores.line()}",
        f"  word errors of the translation: {100 * ev.translation.report.wer:.2f}% "
        f"({len(ev.translation.failures)} utterances not decoded, scored as empty)",
        f"source transcript (CTC head, best path): WER {100 * t.wer:.2f}%  CER {100 * t.cer:.2f}% on "
        f"{len(ev.transcript.utterances)} utterances",
        f"RTF {ev.translation.rtf:.3f} (translation pass)",
    ]) + "\n"


def translation_summary(ev: TranslationEvaluation, extra: dict) -> dict:
    """The JSON `asr evaluate --json` writes for a translation model (fractions for WER, 0-100 for BLEU/chrF)."""
    return {**extra, "task": "translate", "target_language": ev.target, "scored_text": SCORED_TEXT,
            **ev.scores.to_dict(), "translation_word_error_rate": ev.translation.report.wer,
            "transcript_wer": ev.transcript.report.wer, "transcript_cer": ev.transcript.report.cer,
            "not_decoded": [u.id for u in ev.translation.failures], "rtf": ev.translation.rtf,
            "utterances": len(ev.translation.utterances)}
