"""What transcription returns: a Transcript of segments of words, with times in seconds from the file's start."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds from the start of the file
    end: float
    confidence: float  # in [0, 1]


@dataclass
class SegmentResult:
    start: float  # seconds from the start of the file
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list, repr=False)  # the model's unit ids (not in to_dict)
    fit: float | None = field(default=None, repr=False)  # the vocabulary check's score (asr.inference.coverage)
    # A translated segment's source, as the CTC head spells it (best path): set by a speech-translation model
    source_text: str | None = None


@dataclass
class Transcript:
    text: str
    segments: list[SegmentResult]
    duration: float  # seconds of audio
    source: str = ""  # the file, or "<waveform>"
    model: str = ""
    seconds: float = 0.0  # wall-clock time spent, for the real-time factor
    # True when the transcript is empty because nothing was recognised as speech (digital silence, noise):
    # an answer, not a failure (a file that can't be transcribed is an error instead).
    no_speech: bool = False
    # How well the transcript explains the audio (asr.inference.coverage): far below the model's dev set, the
    # audio holds words the vocabulary cannot spell. None when not measured.
    fit: float | None = None

    @property
    def source_text(self) -> str | None:
        """A translation's source-language text (its segments' CTC transcripts); None when nothing was translated."""
        if all(s.source_text is None for s in self.segments):
            return None
        return " ".join(s.source_text for s in self.segments if s.source_text)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("seconds")
        d.pop("fit")
        for seg in d["segments"]:
            seg.pop("tokens")
            seg.pop("fit")
            if seg["source_text"] is None:
                seg.pop("source_text")
        return d
