"""OpenAI's audio transcription API, as `POST /v1/audio/transcriptions` takes and answers it.

Form fields (multipart/form-data), as OpenAI's API and its clients send them:
  file                      the audio: any format soundfile or ffmpeg reads (wav, flac, mp3, m4a, ogg, webm, ...)
  model                     a served model's name (`GET /v1/models`); left out: the first model served
  response_format           json (default) | text | srt | vtt | verbose_json
  timestamp_granularities[] segment (default) and/or word: what verbose_json carries
  stream                    true: Server-Sent Events, `transcript.text.delta` per segment as it is decoded, then
                            `transcript.text.done`
  keywords[]                phrases to bias towards (hotwords, as OpenAI's `keywords`)
  language, prompt          accepted and ignored: the model transcribes the language it was trained on, and
                            it does not condition on previous text
  temperature               accepted (0 to 1) and ignored: the search is deterministic
Ours, with the CLI's names (`--ctc-weight` -> ctc_weight) and defaults: beam, ctc_weight, search, lm_weight,
ngram_weight, length_bonus, hotwords (one phrase a line, optionally ' : BONUS'), hotword_bonus.

Errors are OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with its status codes.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field

from asr.decoding.options import DecodeOptions
from asr.errors import UserError
from asr.inference.formats import render
from asr.inference.results import SegmentResult, Transcript

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("segment", "word")
DECODE_FIELDS = {"beam": int, "ctc_weight": float, "search": str, "lm_weight": float, "ngram_weight": float,
                 "length_bonus": float}
IGNORED_FIELDS = ("language", "prompt", "chunking_strategy", "include[]", "include")
LANGUAGE_NAMES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian"}


class APIError(Exception):
    """An error answered in OpenAI's shape with `status`."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error") -> None:  # noqa: A002 - OpenAI's field name
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class TranscriptionRequest:
    """The form's fields, checked. `decode` holds only the decoding fields the request set."""

    model: str | None = None
    response_format: str = "json"
    granularities: tuple[str, ...] = ("segment",)
    stream: bool = False
    temperature: float = 0.0
    decode: dict = field(default_factory=dict)
    hotwords: tuple[str, ...] = ()
    hotword_bonus: float | None = None

    @classmethod
    def parse(cls, form: dict[str, list[str]]) -> TranscriptionRequest:
        """Form fields (name -> values, files left out) -> a request; APIError 400 naming the bad field."""
        def one(name: str) -> str | None:
            values = form.get(name) or form.get(name.replace("_", "-"))
            return values[-1].strip() if values else None

        fmt = one("response_format") or "json"
        if fmt not in RESPONSE_FORMATS:
            raise APIError(400, f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, got {fmt!r}",
                           "response_format", "invalid_value")
        grans = [g.strip() for g in form.get("timestamp_granularities[]", []) + form.get("timestamp_granularities", [])]
        bad = [g for g in grans if g not in GRANULARITIES]
        if bad:
            raise APIError(400, f"timestamp_granularities[] takes segment and/or word, got {bad[0]!r}",
                           "timestamp_granularities", "invalid_value")
        decode = {}
        for name, kind in DECODE_FIELDS.items():
            value = one(name)
            if value:
                decode[name] = _number(name, value, kind)
        keywords = form.get("keywords[]", []) + form.get("keywords", [])
        hotwords = [k.strip() for k in keywords if k.strip()]
        hotwords += [line.strip() for text in form.get("hotwords", []) for line in text.splitlines() if line.strip()]
        bonus = one("hotword_bonus")
        return cls(
            model=one("model") or None, response_format=fmt, granularities=tuple(dict.fromkeys(grans)) or ("segment",),
            stream=_flag("stream", one("stream")), temperature=_temperature(one("temperature")), decode=decode,
            hotwords=tuple(hotwords), hotword_bonus=_number("hotword_bonus", bonus, float) if bonus else None,
        )

    def decode_options(self, base: DecodeOptions) -> DecodeOptions:
        from dataclasses import replace

        try:
            return replace(base, **self.decode)
        except UserError as e:
            raise APIError(400, str(e), next(iter(self.decode), None), "invalid_value") from None


def _number(name: str, value: str, kind: type):
    if kind is str:
        return value
    try:
        x = kind(value)
    except ValueError:
        raise APIError(400, f"{name} must be {'an integer' if kind is int else 'a number'}, got {value!r}",
                       name, "invalid_value") from None
    if isinstance(x, float) and not math.isfinite(x):
        raise APIError(400, f"{name} must be a finite number, got {value!r}", name, "invalid_value")
    return x


def _flag(name: str, value: str | None) -> bool:
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise APIError(400, f"{name} must be true or false, got {value!r}", name, "invalid_value")


def _temperature(value: str | None) -> float:
    t = _number("temperature", value, float) if value else 0.0
    if not 0 <= t <= 1:
        raise APIError(400, f"temperature must be between 0 and 1, got {t}", "temperature", "invalid_value")
    return t


# ---- answers ----------------------------------------------------------------------------------------------
def transcription_body(t: Transcript, req: TranscriptionRequest, language: str, task: str = "transcribe"
                       ) -> tuple[str, str]:
    """(body, media type) of a finished transcription (or translation: `task`, `language` the output's) in
    `req.response_format`."""
    fmt = req.response_format
    if fmt == "text":
        return t.text + "\n", "text/plain; charset=utf-8"
    if fmt in ("srt", "vtt"):
        return render(t, fmt), "text/plain; charset=utf-8"
    if fmt == "json":
        return _dumps({"text": t.text, "usage": {"type": "duration", "seconds": math.ceil(t.duration)}}), \
            "application/json"
    return _dumps(verbose(t, req.granularities, language, task)), "application/json"


def verbose(t: Transcript, granularities: tuple[str, ...], language: str, task: str = "transcribe") -> dict:
    """OpenAI's verbose_json; words carry our `confidence` too. avg_logprob is the mean log word confidence
    (the CTC posteriors of the words' units, calibrated): not a decoder log-probability, but what it is used for
    (below -1: doubtful); no_speech_prob is 0 for every segment returned (those without speech are dropped)."""
    out: dict = {"task": task, "language": LANGUAGE_NAMES.get(language, language),
                 "duration": t.duration, "text": t.text}
    if "segment" in granularities:
        out["segments"] = [_segment(i, s) for i, s in enumerate(t.segments)]
    if "word" in granularities:
        out["words"] = [{"word": w.word, "start": w.start, "end": w.end, "confidence": round(w.confidence, 4)}
                        for s in t.segments for w in s.words]
    out["usage"] = {"type": "duration", "seconds": math.ceil(t.duration)}
    return out


def _segment(i: int, s: SegmentResult) -> dict:
    logs = [math.log(max(w.confidence, 1e-6)) for w in s.words]
    raw = s.text.encode("utf-8")
    return {"id": i, "seek": round(s.start * 100), "start": s.start, "end": s.end, "text": s.text,
            "tokens": s.tokens, "temperature": 0.0, "avg_logprob": round(sum(logs) / len(logs), 4) if logs else 0.0,
            "compression_ratio": round(len(raw) / len(zlib.compress(raw)), 4) if raw else 0.0,
            "no_speech_prob": 0.0}


def sse(event: dict) -> str:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"


def _dumps(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False)
