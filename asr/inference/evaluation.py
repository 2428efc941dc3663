"""Score a model on a manifest: WER/CER (jiwer, normalised text), error counts, real-time factor, and icefall's
report files (recogs-*.txt, errs-*.txt, wer-summary-*.txt).

Cuts are segmented exactly as `asr transcribe` segments files (asr.inference.segments), so the two agree on the
same audio: a cut no longer than the segment limit (every utterance of a test set) is decoded whole, as published
WERs are computed: the manifest's segmentation is what is scored, and the VAD never drops or trims it; a longer
one is cut where Silero VAD hears pauses. Audio of any sample rate is resampled with soxr. A cut whose audio can't
be loaded, or holds no samples or NaN/infinite ones, is reported and left out of the scores.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jiwer

from asr.inference.options import TranscribeOptions
from asr.inference.transcriber import Transcriber
from asr.audio import ArraySource
from asr.errors import UserError, brief
from asr.metrics import ErrorReport, confusions, error_report
from asr.text import cut_text, normalise_text

if TYPE_CHECKING:
    from lhotse import CutSet


@dataclass
class Evaluation:
    report: ErrorReport
    ids: list[str]
    refs: list[str]  # normalised
    hyps: list[str]  # normalised
    failures: list[str] = field(default_factory=list)  # one message per cut that could not be decoded
    audio_seconds: float = 0.0
    decode_seconds: float = 0.0

    @property
    def rtf(self) -> float:
        """Real-time factor: wall-clock decoding time / audio duration (< 1 is faster than real time)."""
        return self.decode_seconds / max(self.audio_seconds, 1e-9)

    def summary(self, settings: dict) -> dict:
        """The --json summary: fractions, not percentages."""
        d = self.report.to_dict()
        d.update(rtf=round(self.rtf, 5), audio_seconds=round(self.audio_seconds, 2),
                 decode_seconds=round(self.decode_seconds, 2), failed=len(self.failures), settings=settings,
                 confusions=[{"ref": a, "hyp": b, "count": n} for a, b, n in confusions(self.refs, self.hyps, 20)])
        return d


def evaluate(model: Transcriber, cuts: CutSet, opts: TranscribeOptions, on_audio: Callable[[float], None] | None = None,
             on_error: Callable[[str], None] | None = None) -> Evaluation:
    """Decode every cut of `cuts` (segmented as `asr transcribe` would) and score it against its supervisions'
    text."""
    refs = {c.id: cut_text(c) for c in cuts}
    items = [(c.id, _opener(c)) for c in cuts]
    ids, hyps, failures = [], [], []
    audio = 0.0
    start = time.perf_counter()
    for cut_id, result in model.transcribe_sources(items, opts, on_audio):
        if isinstance(result, UserError):
            failures.append(str(result))
            if on_error is not None:
                on_error(str(result))
            continue
        ids.append(cut_id)
        hyps.append(result.text)
        audio += result.duration
    seconds = time.perf_counter() - start
    if not ids:
        raise UserError(f"no cut could be decoded ({len(failures)} failed); first failure: "
                        f"{failures[0] if failures else 'the manifest is empty'}")
    ref_list = [normalise_text(refs[i]) for i in ids]
    hyp_list = [normalise_text(h) for h in hyps]
    return Evaluation(error_report(ref_list, hyp_list), ids, ref_list, hyp_list, failures, audio, seconds)


def _opener(cut) -> Callable[[], ArraySource]:
    def open_cut() -> ArraySource:
        try:
            samples = cut.load_audio()  # (C, S) at the recording's own rate
        except Exception as e:  # noqa: BLE001 - lhotse raises many kinds; the user needs which cut and why
            raise UserError(f"{cut.id}: cannot load audio ({brief(e)})") from None
        return ArraySource(samples, cut.sampling_rate)

    return open_cut


# ---- icefall's report files ------------------------------------------------------------------------------
def write_reports(ev: Evaluation, out_dir: str | Path, name: str, settings: str) -> list[Path]:
    """recogs-<name>.txt, errs-<name>.txt and wer-summary-<name>.txt as icefall's decode.py leaves them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recogs = out / f"recogs-{name}.txt"
    with recogs.open("w") as f:
        for i, r, h in sorted(zip(ev.ids, ev.refs, ev.hyps)):
            f.write(f"{i}:\tref={r.split()}\n{i}:\thyp={h.split()}\n")
    errs = out / f"errs-{name}.txt"
    errs.write_text(errs_text(ev))
    summary = out / f"wer-summary-{name}.txt"
    summary.write_text(f"settings\tWER\n{settings}\t{100 * ev.report.wer:.2f}\n")
    return [recogs, errs, summary]


def errs_text(ev: Evaluation) -> str:
    r = ev.report
    lines = [
        f"%WER = {100 * r.wer:.2f}",
        f"Errors: {r.insertions} insertions, {r.deletions} deletions, {r.substitutions} substitutions, "
        f"over {r.words} reference words ({r.words - r.deletions - r.substitutions} correct)",
        f"%CER = {100 * r.cer:.2f}   %SER = {100 * r.ser:.2f}   RTF = {ev.rtf:.4f}",
        "Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, DELETIONS:, INSERTIONS:",
        "",
        "PER-UTT DETAILS: corr or (ref->hyp)",
    ]
    subs, dels, ins = Counter(), Counter(), Counter()
    for i, ref, hyp in sorted(zip(ev.ids, ev.refs, ev.hyps)):
        tokens = []
        for kind, a, b in word_alignment(ref, hyp):
            if kind == "equal":
                tokens.append(a)
            else:
                tokens.append(f"({a or '*'}->{b or '*'})")
                if kind == "substitute":
                    subs[(a, b)] += 1
                else:
                    (dels if kind == "delete" else ins)[a or b] += 1
        lines.append(f"{i}:\t{' '.join(tokens)}")
    lines += ["", "SUBSTITUTIONS: count ref -> hyp"]
    lines += [f"{n}   {a} -> {b}" for (a, b), n in subs.most_common()]
    lines += ["", "DELETIONS: count ref"] + [f"{n}   {w}" for w, n in dels.most_common()]
    lines += ["", "INSERTIONS: count hyp"] + [f"{n}   {w}" for w, n in ins.most_common()]
    return "\n".join(lines) + "\n"


def word_alignment(ref: str, hyp: str) -> list[tuple[str, str, str]]:
    """(kind, ref word or '', hyp word or '') per aligned position; kind is jiwer's equal/substitute/delete/insert."""
    r, h = ref.split(), hyp.split()
    if not r:
        return [("insert", "", w) for w in h]
    out = jiwer.process_words(ref, hyp or "")
    pairs = []
    for c in out.alignments[0]:
        rs, hs = r[c.ref_start_idx : c.ref_end_idx], h[c.hyp_start_idx : c.hyp_end_idx]
        if c.type in ("equal", "substitute"):
            pairs += [(c.type, a, b) for a, b in zip(rs, hs)]
        elif c.type == "delete":
            pairs += [("delete", a, "") for a in rs]
        else:
            pairs += [("insert", "", b) for b in hs]
    return pairs
