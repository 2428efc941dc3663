"""What the transcription pipeline is asked to do: frozen option dataclasses, torch-free so the command line
reads its defaults from here. Each default is defined once: search settings in `asr.decoding.options`
(`DecodeOptions`), segmentation in `SegmentOptions`, the rest in `TranscribeOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from asr.decoding.options import DecodeOptions
from asr.errors import UserError

PRECISIONS = ("fp32", "bf16")
TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class SegmentOptions:
    """How a recording becomes segments (asr.inference.segments): a recording no longer than max_segment_s is
    decoded whole; a longer one is cut where Silero VAD hears pauses."""

    # No segment is longer; longer speech is cut at its quietest 10 ms frame.
    max_segment_s: float = 20.0
    # Silero's speech probability above which a 32 ms window is speech (below it minus 0.15 it is not).
    vad_threshold: float = 0.5
    # A pause at least this long ends a segment.
    min_silence_s: float = 0.3
    # Speech shorter than this (clicks, breaths) is dropped.
    min_speech_s: float = 0.1
    # Context kept before and after the speech (half a pause at most, so segments never overlap).
    pad_s: float = 0.2
    # Word edges: a 10 ms frame is speech when it is this many dB above the file's floor (1st percentile of
    # frame energies)...
    margin_db: float = 15.0
    # ...and within this many dB of its speech level (the 99th percentile): quiet hum between words is not speech.
    range_db: float = 45.0
    # False: never run the VAD; a long recording is decoded in windows of at most max_segment_s, cut at quiet
    # frames (for audio without pauses, or tests).
    vad: bool = True

    def __post_init__(self) -> None:
        if not self.max_segment_s > 0:
            raise UserError(f"max_segment_s must be positive, got {self.max_segment_s}")
        if not 0 < self.vad_threshold < 1:
            raise UserError(f"vad_threshold is a probability between 0 and 1, got {self.vad_threshold}")


@dataclass(frozen=True)
class StreamOptions:
    """Streaming simulated on files (`asr transcribe --streaming`, `asr evaluate --streaming`): each file is fed
    to `Transcriber.stream` in pieces as it would arrive live, and its segments are the stream's final texts."""

    chunk_ms: float = 640.0  # the encoder's chunk; 0: full context (a partial per 640 ms, the offline search at the end)
    left_chunks: int = -1  # chunks to the left each chunk sees; -1: all of the segment
    final: str = "search"  # the final text: "search" over the streamed encoder states, or "rescore" the n-best

    def __post_init__(self) -> None:
        if self.final not in ("search", "rescore"):
            raise UserError(f"final must be search or rescore, got {self.final!r}")
        if self.chunk_ms < 0:
            raise UserError(f"chunk_ms must be >= 0 (0: full context), got {self.chunk_ms:g}")


@dataclass(frozen=True)
class TranscribeOptions:
    # The search and its guards (beam, ctc_weight, search, ...): the one decoding policy's options.
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    # Segments decoded together; memory is about batch_size x max_segment_s of audio.
    batch_size: int = 16
    word_timestamps: bool = True
    segments: SegmentOptions = field(default_factory=SegmentOptions)
    # Models fused into the search (`asr.decoding.fusion`), by file; their weights are DecodeOptions'
    # (lm_weight, ngram_weight, length_bonus). lm: `asr train-lm`'s file; ngram: a word ARPA file (.arpa[.gz]) or
    # a KenLM binary (`asr.lm.ngram.load_ngram`); hotwords: one phrase a line, optionally " : BONUS", else
    # hotword_bonus per matched unit (0.5: on the sentence recipe's test set, biasing its 70 names fixed 12 names
    # and put 27 in wrongly; 1.5 fixed 24, put 169 in).
    lm: str | None = None
    ngram: str | None = None
    hotwords: str | tuple[str, ...] | None = None  # a file, or the phrases themselves
    hotword_bonus: float = 0.5
    # "bf16": the network runs under bfloat16 autocast (features, softmaxes and search scores stay fp32): on
    # CPUs with native bf16 (AVX512-BF16, AMX) the matmuls run ~4x faster; "fp32" everywhere else.
    precision: str = "fp32"
    streaming: StreamOptions | None = None  # None: offline (segments decoded whole, in batches)
    # "translate": the decoder's translation (a speech-translation model only); "transcribe": the transcript (a
    # translation model's CTC head spells the source language: its best path); None: what the model file records.
    task: str | None = None

    def __post_init__(self) -> None:
        if self.task not in (None, *TASKS):
            raise UserError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.precision not in PRECISIONS:
            raise UserError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.decode.search == "greedy" and (self.lm or self.ngram or self.hotwords):
            raise UserError("the greedy search fuses no LM or hotwords; use search joint or rescore with them")
        if not self.hotword_bonus > 0:
            raise UserError(f"hotword_bonus must be > 0, got {self.hotword_bonus}")

    @property
    def fused(self) -> tuple[str | None, str | None, str | tuple[str, ...] | None, float]:
        """What the search fuses, as a key: the same key, the same loaded models."""
        return self.lm, self.ngram, self.hotwords, self.hotword_bonus

    @classmethod
    def of(cls, **options) -> TranscribeOptions:
        """Options from flat keywords: TranscribeOptions fields, and DecodeOptions / SegmentOptions fields
        (beam=8, ctc_weight=0.5, vad=False, ...) for the nested ones."""
        own = {f.name for f in fields(cls)}
        dec = {f.name for f in fields(DecodeOptions)}
        seg = {f.name for f in fields(SegmentOptions)}
        unknown = set(options) - own - dec - seg
        if unknown:
            raise UserError(f"unknown transcribe option(s): {', '.join(sorted(unknown))}; the options are the "
                            f"fields of TranscribeOptions, DecodeOptions and SegmentOptions")
        base = cls(**{k: v for k, v in options.items() if k in own})
        return replace(base, decode=replace(base.decode, **{k: v for k, v in options.items() if k in dec}),
                       segments=replace(base.segments, **{k: v for k, v in options.items() if k in seg}))

    def with_segments(self, **changes) -> TranscribeOptions:
        """A copy with some SegmentOptions fields changed."""
        return replace(self, segments=replace(self.segments, **changes))
