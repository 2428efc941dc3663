"""Streaming recognition: PCM in pieces of any size -> partial text per chunk, final text at each endpoint.

    stream = model.stream(chunk_ms=640)           # model = asr.load_model("exp/an4-streaming/model.pt")
    for piece in pieces:                          # float32 samples at model.sample_rate, any length
        for event in stream.accept(piece):
            print("final" if event.final else "partial", event.text)
    for event in stream.finish():                 # end of input
        ...

Chunked (WeNet's U2 runtime): samples -> log-mel frames as soon as their window is complete -> the encoder runs a
chunk of c frames at a time through its caches (`Encoder.forward_chunk`; the model trained with dynamic chunks,
its conv module causal) -> CTC log-probs -> the frame-synchronous CTC prefix beam search
(`asr.decoding.stream_search`) gives the partial text. At an endpoint (trailing silence after speech, a long
segment, the end of input) the offline search runs over the segment's streamed encoder states for the final
text with word times (or, with final="rescore", the attention decoder rescores the prefix search's n-best, as
WeNet's runtime does), and the stream starts a new segment (positions and caches from zero, as the
model saw utterances in training).

Full context (chunk_ms 0, and models that can't run chunk by chunk): each update encodes the segment so far
whole for the partial text; the final text is the offline search's (`recognise_encoded`), so a stream's final
equals `transcribe`'s decoding of the same samples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from asr.decoding import stream_search as search
from asr.decoding.endpoint import EndpointRule, endpoint, rescore_final
from asr.decoding.fusion import Fusion
from asr.decoding.recognition import recognise_encoded
from asr.features import num_frames, win_hop
from asr.inference.options import TranscribeOptions
from asr.inference.results import SegmentResult, Transcript, Word
from asr.inference.timestamps import align_words
from asr.model.encoder import EncoderCache

FULL_UPDATE_S = 0.64  # full context: a partial per this much new audio
# The final text at an endpoint: "search" runs the offline search (`DecodeOptions.search`, joint CTC/attention by
# default) over the segment's streamed encoder states; "rescore" is WeNet's attention rescoring of the streaming
# CTC search's n-best (cheaper on long segments; AN4 test at 640 ms: recipes/an4/RESULTS.md).
FINALS = ("search", "rescore")


@dataclass
class StreamEvent:
    final: bool  # False: partial text (may still change); True: a segment's final text (an endpoint)
    text: str
    words: list[Word] = field(default_factory=list)  # seconds from the stream's start; [] for partials
    start: float = 0.0  # the segment's start, seconds from the stream's start
    end: float = 0.0  # how far the stream has been heard


def chunk_frames(chunk_ms: float, frame_ms: float) -> int:
    """Encoder frames in a chunk of chunk_ms (at least 1); 0 for full context (chunk_ms <= 0)."""
    return 0 if chunk_ms <= 0 else max(1, round(chunk_ms / frame_ms))


class Stream:
    """One live input. Not thread-safe: one stream per connection; streams share the model read-only."""

    def __init__(self, transcriber, chunk: int, left_chunks: int, opts: TranscribeOptions, fusion: Fusion | None,
                 endpoint_rule: EndpointRule | None = None, final: str = "search") -> None:
        self.t, self.net, self.opts, self.fusion = transcriber, transcriber.net, opts, fusion
        self.chunk, self.left_chunks = chunk, left_chunks
        if final not in FINALS:
            raise ValueError(f"final must be one of {FINALS}, got {final!r}")
        self.final = final
        self.rule = endpoint_rule or EndpointRule()
        self.scorers = search.stream_scorers(fusion, opts.decode, transcriber.device)
        front = self.net.cfg.frontend
        self.win, self.hop = win_hop(front)  # samples
        self.step, self.field = self.net.encoder.stride()
        self.frame_ms = front.hop_ms * self.step
        self.samples = np.zeros(0, np.float32)  # not yet in a log-mel frame (from the next frame's start)
        self.feats = torch.zeros(0, front.n_mels)  # (T, F) log-mel frames not yet encoded (chunked mode)
        self.heard = 0  # samples received
        self.seg_frame: float = 0  # the segment's first log-mel frame, counted from the stream's start
        self.frames_done: float = 0  # log-mel frames encoded so far (chunked) / in the segment (full)
        self._new_segment()

    def _new_segment(self) -> None:
        self.cache: EncoderCache | None = None
        self.state = self._fresh()
        self.enc: list[Tensor] = []  # (1, c, D) per chunk
        self.log_probs: list[Tensor] = []  # (c, V) per chunk
        self.seg_samples = np.zeros(0, np.float32)  # full context: the segment's audio
        self.last_partial = ""

    def _fresh(self) -> search.StreamSearchState:
        return search.init_state(self.scorers, self.t.device)

    # -- input ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def accept(self, samples: np.ndarray) -> list[StreamEvent]:
        """float32 mono samples at the model's rate (any length, even 0) -> events (partials, finals)."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.heard += len(samples)
        if self.chunk <= 0:
            return self._accept_full(samples)
        self._add_frames(samples)
        events = []
        need = (self.chunk - 1) * self.step + self.field
        while self.feats.shape[0] >= need:
            events += self._encode(self.feats[:need], self.chunk * self.step)
        return events

    @torch.no_grad()
    def finish(self) -> list[StreamEvent]:
        """The end of input: what is left is encoded (a last, shorter chunk) and the segment ends."""
        if self.chunk <= 0:
            return [self._final_full()] if len(self.seg_samples) else []
        events = []
        if self.feats.shape[0] >= self.field:
            events += self._encode(self.feats, self.feats.shape[0], may_end=False)
        if self.enc:
            events.append(self._final())
        return events

    # -- chunked ------------------------------------------------------------------------------------------
    def _add_frames(self, samples: np.ndarray) -> None:
        """New samples -> the log-mel frames whose windows are now complete, normalised, onto self.feats."""
        buf = np.concatenate([self.samples, samples])
        n = int(num_frames(torch.tensor(len(buf)), self.net.cfg.frontend))
        if n == 0:
            self.samples = buf
            return
        wave = torch.from_numpy(buf[: (n - 1) * self.hop + self.win])[None]
        feats, _ = self.net.features(wave.to(self.t.device), torch.tensor([wave.shape[1]], device=self.t.device))
        self.feats = torch.cat([self.feats, self.net.cmvn(feats)[0, :n].cpu()])
        self.samples = buf[n * self.hop:]

    def _encode(self, feats: Tensor, advance: int, may_end: bool = True) -> list[StreamEvent]:
        """One chunk of log-mel frames (T, F) through the encoder and the search; `advance` frames are consumed."""
        left = -1 if self.left_chunks < 0 else self.left_chunks * self.chunk
        with torch.autocast("cpu", torch.bfloat16, enabled=self.opts.precision == "bf16"):
            enc, self.cache = self.net.encoder.forward_chunk(feats[None].to(self.t.device), self.cache, left)
        log_probs = self.net.ctc_log_probs(enc)[0].cpu()  # (c, V)
        self.enc.append(enc.float())
        self.log_probs.append(log_probs)
        self.feats = self.feats[advance:]
        self.frames_done += advance
        self.state = search.advance(self.state, log_probs, self.opts.decode.beam)
        if may_end and endpoint(self.state, self.rule, self.frame_ms):
            return [self._final()]
        return self._partial(search.best_tokens(self.state))

    def _final(self) -> StreamEvent:
        enc = torch.cat(self.enc, dim=1)  # (1, T', D)
        log_probs = torch.cat(self.log_probs)  # (T', V)
        lens = torch.tensor([enc.shape[1]], device=enc.device)
        if self.final == "rescore":
            tokens = rescore_final(self.net, enc, lens, log_probs[None].to(enc.device), self.state,
                                   self.opts.decode, self.fusion)
        else:
            tokens = recognise_encoded(self.net, enc, lens, self.opts.decode, None, self.fusion,
                                       log_probs=log_probs[None].to(enc.device)).tokens[0]
        event = self._final_event(tokens, log_probs)
        self.seg_frame += self.frames_done
        self.frames_done = 0
        self._new_segment()
        return event

    # -- full context ---------------------------------------------------------------------------------------
    def _accept_full(self, samples: np.ndarray) -> list[StreamEvent]:
        before = len(self.seg_samples)
        self.seg_samples = np.concatenate([self.seg_samples, samples])
        every = int(FULL_UPDATE_S * self.net.cfg.frontend.sample_rate)
        if len(self.seg_samples) // every == before // every:
            return []
        enc, lens, log_probs = self._encode_whole()
        self.state = search.advance(self._fresh(), log_probs[0, : int(lens[0])].cpu(), self.opts.decode.beam)
        if endpoint(self.state, self.rule, self.frame_ms):
            return [self._final_full((enc, lens, log_probs))]
        return self._partial(search.best_tokens(self.state))

    def _encode_whole(self) -> tuple[Tensor, Tensor, Tensor]:
        wave = torch.from_numpy(self.seg_samples)[None].to(self.t.device)
        with torch.autocast("cpu", torch.bfloat16, enabled=self.opts.precision == "bf16"):
            enc, lens, _ = self.net.encode(wave, torch.tensor([wave.shape[1]], device=wave.device))
        enc = enc.float()
        return enc, lens, self.net.ctc_log_probs(enc)

    def _final_full(self, encoded: tuple[Tensor, Tensor, Tensor] | None = None) -> StreamEvent:
        enc, lens, log_probs = encoded or self._encode_whole()
        rec = recognise_encoded(self.net, enc, lens, self.opts.decode, self.t.tokenizer, self.fusion,
                                log_probs=log_probs)
        self.frames_done = len(self.seg_samples) / self.hop  # the next segment starts at the next sample
        event = self._final_event(rec.tokens[0], rec.posteriors(0).cpu())
        self.seg_frame += self.frames_done
        self.frames_done = 0
        self._new_segment()
        return event

    # -- events -----------------------------------------------------------------------------------------------
    def _partial(self, tokens: list[int]) -> list[StreamEvent]:
        text = self.t.tokenizer.decode(tokens)
        if text == self.last_partial:
            return []
        self.last_partial = text
        return [StreamEvent(False, text, [], self._seconds(self.seg_frame), self.heard / self._rate())]

    def _final_event(self, tokens: list[int], log_probs: Tensor) -> StreamEvent:
        start = self._seconds(self.seg_frame)
        words = []
        if tokens and self.opts.word_timestamps:
            words = align_words(log_probs, tokens, self.t.tokenizer, self.t.clock, start,
                                calibration=self.t.calibration)
        text = self.t.tokenizer.decode(tokens)
        return StreamEvent(True, text, words, start, self._seconds(self.seg_frame + self.frames_done))

    def _seconds(self, frame: float) -> float:
        return round(frame * self.hop / self._rate(), 3)

    def _rate(self) -> int:
        return self.net.cfg.frontend.sample_rate


def stream_source(transcriber, name: str, src, opts: TranscribeOptions) -> Transcript:
    """A file as a live stream (`StreamOptions`): its samples, at the model's rate, fed in pieces of one chunk
    (640 ms for full context) -> a Transcript whose segments are the stream's final texts."""
    started = time.perf_counter()
    s = opts.streaming
    stream = transcriber.open_stream(opts, s.chunk_ms, s.left_chunks, final=s.final)
    wave = src.read_seconds(0.0, src.duration, transcriber.sample_rate)
    piece = round((s.chunk_ms or FULL_UPDATE_S * 1000) / 1000 * transcriber.sample_rate)
    events = [e for i in range(0, len(wave), piece) for e in stream.accept(wave[i : i + piece])]
    events += stream.finish()
    segments = [SegmentResult(e.start, round(e.end, 3), e.text, e.words) for e in events if e.final and e.text]
    text = " ".join(seg.text for seg in segments)
    return Transcript(text, segments, round(src.duration, 3), name, transcriber.name, time.perf_counter() - started,
                      no_speech=not text)

