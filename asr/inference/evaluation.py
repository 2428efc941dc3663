"""Score a model on test sets (lhotse cuts): every cut decoded, aligned with jiwer against its supervisions' text
and counted in sclite's columns, per test set, per speaker and in total; asr.inference.report prints and writes
the report.

The scoring protocol (`asr evaluate`'s, as published WERs are computed):
- Each cut is decoded whole, however long (LibriSpeech's test utterances reach 35 s): the manifest's
  segmentation is what is scored, and no VAD drops, trims or splits it. `max_segment_s` (`--max-segment S`)
  instead cuts a longer one where Silero VAD hears pauses, exactly as `asr transcribe` segments files
  (asr.inference.segments), so the two agree on the same audio.
- A cut that can't be decoded (unreadable audio, no samples or NaN/infinite ones, an exception in the search)
  is scored with an empty hypothesis: all its reference words count as deleted, none is dropped from the score,
  and the report names it.
- The texts are normalised (`normalise_text`) on both sides; the WER is jiwer's on those texts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asr.audio import ArraySource
from asr.errors import UserError, brief
from asr.inference.options import TranscribeOptions
from asr.inference.results import Transcript
from asr.inference.transcriber import Opener, Transcriber
from asr.metrics import Alignment, Counts, ErrorReport, error_report, total, word_alignment
from asr.text import cut_text, normalise_text

if TYPE_CHECKING:
    from lhotse import CutSet

__all__ = ["Evaluation", "Utterance", "evaluate", "word_alignment"]

NO_SPEAKER = "-"  # the speaker of a cut whose supervision names none


@dataclass(frozen=True)
class Utterance:
    """One scored cut."""

    id: str
    ref: str  # normalised
    hyp: str  # normalised; "" when it could not be decoded
    speaker: str  # its first supervision's, else NO_SPEAKER
    test_set: str
    alignment: Alignment = field(repr=False)
    error: str | None = None  # why it could not be decoded: then every reference word counts as deleted

    @classmethod
    def scored(cls, id: str, ref: str, hyp: str, speaker: str = NO_SPEAKER, test_set: str = "test",
               error: str | None = None) -> Utterance:
        """Both texts normalised and aligned; an utterance with an `error` is scored with an empty hypothesis."""
        ref, hyp = normalise_text(ref), "" if error is not None else normalise_text(hyp)
        return cls(id, ref, hyp, speaker, test_set, word_alignment(ref, hyp), error)

    @property
    def counts(self) -> Counts:
        return Counts.of(self.alignment)


@dataclass
class Evaluation:
    utterances: list[Utterance]
    report: ErrorReport  # WER, CER, SER over every utterance, the undecoded ones included
    audio_seconds: float = 0.0  # of the decoded cuts
    decode_seconds: float = 0.0
    max_segment_s: float | None = None  # None: every cut decoded whole

    @classmethod
    def of(cls, utterances: list[Utterance], audio_seconds: float = 0.0, decode_seconds: float = 0.0,
           max_segment_s: float | None = None) -> Evaluation:
        report = error_report([u.ref for u in utterances], [u.hyp for u in utterances])
        return cls(utterances, report, audio_seconds, decode_seconds, max_segment_s)

    @property
    def rtf(self) -> float:
        """Real-time factor: wall-clock decoding time / audio duration (< 1 is faster than real time)."""
        return self.decode_seconds / max(self.audio_seconds, 1e-9)

    @property
    def ids(self) -> list[str]:
        return [u.id for u in self.utterances]

    @property
    def refs(self) -> list[str]:
        return [u.ref for u in self.utterances]

    @property
    def hyps(self) -> list[str]:
        return [u.hyp for u in self.utterances]

    @property
    def failures(self) -> list[Utterance]:
        """The utterances that could not be decoded (scored as deletions)."""
        return [u for u in self.utterances if u.error is not None]

    @property
    def counts(self) -> Counts:
        return total(u.counts for u in self.utterances)

    def counts_by(self, key: Callable[[Utterance], str]) -> dict[str, Counts]:
        """sclite's columns per group (`lambda u: u.speaker`, `lambda u: u.test_set`), in order of first
        appearance; the groups sum to `counts`."""
        groups: dict[str, Counts] = {}
        for u in self.utterances:
            groups[key(u)] = groups.get(key(u), Counts()) + u.counts
        return groups


def evaluate(model: Transcriber, cuts: CutSet | Mapping[str, CutSet], opts: TranscribeOptions,
             on_audio: Callable[[float], None] | None = None, on_error: Callable[[str], None] | None = None,
             max_segment_s: float | None = None, reference: Callable[[Any], str] = cut_text) -> Evaluation:
    """Decode every cut and score it against its supervisions' text (see the module's protocol).

    `cuts`: one test set, or test sets by name (decoded together, reported per set). `max_segment_s`: None
    decodes every cut whole; seconds: a longer cut is segmented as `asr transcribe` segments a file. `reference`:
    a cut's reference text. Raises UserError when no cut at all could be decoded (a wrong path, not a score)."""
    views = {"text": (reference, _text)}
    return evaluate_views(model, cuts, opts, views, on_audio, on_error, max_segment_s)["text"]


View = tuple[Callable[[Any], str], Callable[[Transcript], str]]  # (a cut's reference, a transcript's hypothesis)


def evaluate_views(model: Transcriber, cuts: CutSet | Mapping[str, CutSet], opts: TranscribeOptions,
                   views: Mapping[str, View], on_audio: Callable[[float], None] | None = None,
                   on_error: Callable[[str], None] | None = None,
                   max_segment_s: float | None = None) -> dict[str, Evaluation]:
    """`evaluate` scoring one decoding pass several ways: an Evaluation per view, each a (reference of a cut,
    hypothesis of its Transcript) pair (a translation model's translation and its CTC transcript:
    `asr.inference.translation_eval`). A cut that could not be decoded scores an empty hypothesis in every view."""
    sets = {"test": cuts} if not isinstance(cuts, Mapping) else cuts
    listed = [(name, c) for name, cs in sets.items() for c in cs]
    opts = opts.with_segments(max_segment_s=math.inf if max_segment_s is None else max_segment_s)
    utterances: dict[str, list[Utterance]] = {v: [] for v in views}
    audio = 0.0
    start = time.perf_counter()
    results = decode_each(model, [(c.id, _opener(c)) for _, c in listed], opts, on_audio)
    for (test_set, cut), (_, result) in zip(listed, results, strict=True):
        error = str(result) if isinstance(result, UserError) else None
        if error is not None and on_error is not None:
            on_error(error)
        if isinstance(result, Transcript):
            audio += result.duration
        speaker = next((s.speaker for s in cut.supervisions if s.speaker), NO_SPEAKER)
        for v, (reference, hypothesis) in views.items():
            hyp = "" if isinstance(result, UserError) else hypothesis(result)
            utterances[v].append(Utterance.scored(cut.id, reference(cut), hyp, speaker, test_set, error))
    seconds = time.perf_counter() - start
    first = next(iter(utterances.values()))
    failed = [u for u in first if u.error is not None]
    if not first or len(failed) == len(first):
        raise UserError(f"no cut could be decoded ({len(failed)} failed); first failure: "
                        f"{failed[0].error if failed else 'the manifest is empty'}")
    return {v: Evaluation.of(us, audio, seconds, max_segment_s) for v, us in utterances.items()}


def _text(t: Transcript) -> str:
    return t.text


def decode_each(model: Transcriber, items: list[tuple[str, Opener]], opts: TranscribeOptions,
                on_audio: Callable[[float], None] | None = None) -> Iterator[tuple[str, Transcript | UserError]]:
    """`model.transcribe_sources`, but an exception in a batch (a search that fails on one cut's input, an
    opener that raises something other than UserError) costs only the cut that causes it: the cuts of the
    failed batch are decoded again one at a time, and one that fails alone is answered with a UserError."""
    pending = items
    while pending:
        done = 0
        try:
            for name, result in model.transcribe_sources(pending, opts, on_audio):
                done += 1
                yield name, result
            return
        except Exception:  # noqa: BLE001 - which cut raised is found below, one at a time
            pass
        for name, opener in pending[done : done + opts.batch_size]:
            yield name, _alone(model, name, opener, opts)
        pending = pending[done + opts.batch_size :]


def _alone(model: Transcriber, name: str, opener: Opener, opts: TranscribeOptions) -> Transcript | UserError:
    try:
        return next(iter(model.transcribe_sources([(name, opener)], opts)))[1]
    except Exception as e:  # noqa: BLE001 - the search's errors are many kinds; the report names the cut and why
        return UserError(f"{name}: decoding failed ({type(e).__name__}: {brief(e)})")


def _opener(cut) -> Opener:
    def open_cut() -> ArraySource:
        try:
            samples = cut.load_audio()  # (C, S) at the recording's own rate
        except Exception as e:  # noqa: BLE001 - lhotse raises many kinds; the user needs which cut and why
            raise UserError(f"{cut.id}: cannot load audio ({brief(e)})") from None
        return ArraySource(samples, cut.sampling_rate)

    return open_cut
