"""The transcription pipeline behind the Python API: `asr.load_model(path).transcribe(path_or_waveform)`.

    import asr
    model = asr.load_model("exp/demo/model.pt")
    result = model.transcribe("meeting.flac")          # any length, format, rate and channel count
    print(result.text)
    for seg in result.segments:
        print(seg.start, seg.end, seg.text, [(w.word, w.start, w.end, w.confidence) for w in seg.words])

Pipeline per file: open (soundfile, else ffmpeg) -> one pass for levels: DC offset, 10 ms energies, peak,
non-finite samples (levels.py) -> segments of <= 20 s: the whole file when it is that short, else where Silero VAD
hears speech (segments.py, vad.py) -> each segment DC-removed and, when its file's speech level is outside the
training range, scaled into it (`Levels.for_model`) -> segments of many files batched (B, S) -> the one
recognition path (asr.decoding.recognition: encoder (B, T', D), the decoding policy, tokens, text) -> CTC forced
alignment for word times (timestamps.py). Only a batch of segments is ever in memory.

Every input gets an answer: a Transcript (with `no_speech` set when nothing was recognised: silence, noise),
or a UserError naming it: unreadable, no samples at all, or NaN/infinite samples (an error, not silently
zeroed: such a file is damaged, and what the rest of it holds is not to be trusted).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from asr.audio import ArraySource, AudioSource, open_audio
from asr.decoding.ctc_path import ctc_greedy
from asr.decoding.endpoint import EndpointRule
from asr.decoding.fusion import Fusion
from asr.decoding.options import DecodeOptions
from asr.decoding.recognition import Recognition, recognise
from asr.errors import UserError
from asr.inference.levels import HOP_S, Levels, measure, speech_threshold
from asr.inference.confidence import calibration_of
from asr.inference.coverage import file_fit, transcript_fit
from asr.inference.options import SegmentOptions, TranscribeOptions
from asr.inference.results import SegmentResult, Transcript
from asr.inference.segments import Segment, find_segments
from asr.inference.streaming import Stream, chunk_frames, stream_source
from asr.inference.timestamps import align_words
from asr.model.asr_model import ASRModel
from asr.model.network import Network
from asr.model.clock import FrameClock
from asr.model.io import load_model_file
from asr.tokenizer import Tokenizer

if TYPE_CHECKING:
    from asr.plots import AttentionMaps


@dataclass
class Job:
    """One segment waiting in the batch: the file it came from and its audio at 16 kHz (S,)."""

    key: int
    index: int
    segment: Segment
    wave: np.ndarray
    energy: np.ndarray  # 10 ms energies of this segment, for word edges
    threshold: float


@dataclass
class Plan:
    """One input opened, measured and cut into segments; `jobs()` reads its audio one segment at a time.
    The caller closes `src` (`with plan.src:`)."""

    key: int
    src: AudioSource
    levels: Levels
    segments: list[Segment]
    threshold: float  # word-edge energy threshold of this file
    sample_rate: int  # the model's

    def jobs(self) -> Iterator[Job]:
        for i, seg in enumerate(self.segments):
            wave = self.src.read_seconds(seg.start, seg.end, self.sample_rate, self.levels.for_model)
            a, b = round(seg.start / HOP_S), round(seg.end / HOP_S)
            yield Job(self.key, i, seg, wave, self.levels.energy[a:b], self.threshold)


@dataclass
class InFlight:
    """One input while its segments are in flight."""

    name: str
    started: float  # perf_counter when it was opened
    duration: float = 0.0
    count: int | None = None  # segments, once the VAD has run
    results: dict[int, SegmentResult] = field(default_factory=dict)  # by segment index
    error: UserError | None = None

    @property
    def done(self) -> bool:
        return self.error is not None or (self.count is not None and len(self.results) == self.count)


Opener = Callable[[], AudioSource]


class Transcriber:
    """A loaded model ready to transcribe: the network (`net`: an `ASRModel`, or an exported folder's `OnnxNetwork`,
    both `asr.model.network.Network`), its tokenizer and metadata. Build with `asr.load_model(path)`."""

    def __init__(self, net: Network, tokenizer: Tokenizer, meta: dict, name: str = "") -> None:
        self.net = net.eval()
        self.tokenizer = tokenizer
        self.meta = meta
        self.name = name
        self.sample_rate = net.cfg.frontend.sample_rate
        self.clock = FrameClock.of(net.cfg)
        self.calibration = calibration_of(meta)  # word-confidence fit stored in the model file, else the default
        self._lms: tuple[tuple, Fusion | None] = ((None, None), None)  # (lm, ngram) files -> loaded
        self._biased: dict[tuple, Fusion] = {}  # (lm, ngram, hotwords, bonus) -> with its hotword graph

    @property
    def device(self) -> torch.device:
        return self.net.device

    @property
    def backend(self) -> str:
        return "torch" if isinstance(self.net, ASRModel) else "onnxruntime"

    def fusion(self, opts: TranscribeOptions) -> Fusion | None:
        """The LM / n-gram / hotwords `opts` names. The LMs are loaded once and kept while the same files are
        asked for; hotword graphs (cheap, but asked for per request by a server) are kept for the last few."""
        lm, ngram, hotwords, bonus = opts.fused
        if (lm, ngram) != self._lms[0]:
            base = Fusion.load(self.tokenizer, self.device, lm, ngram) if lm or ngram else None
            self._lms, self._biased = ((lm, ngram), base), {}
        base = self._lms[1]
        if not hotwords:
            return base
        key = opts.fused
        if key not in self._biased:
            if len(self._biased) >= 32:
                self._biased.pop(next(iter(self._biased)))
            self._biased[key] = (base or Fusion(self.tokenizer)).with_hotwords(hotwords, bonus)
        return self._biased[key]

    def task(self, opts: TranscribeOptions) -> str:
        """The task `opts` asks for: its own, else the model's (`ModelConfig.task`). Raises UserError for a
        translation asked of a model that only transcribes."""
        task = opts.task or self.net.cfg.task
        if task == "translate" and self.net.cfg.task != "translate":
            raise UserError(f"{self.name or 'this model'} transcribes; it was not trained to translate (its file "
                            "records task transcribe): use a speech-translation model (recipes/tts/translation.yaml)")
        return task

    def decode_options(self, opts: TranscribeOptions) -> DecodeOptions:
        """The search `opts` asks of this model: a translation model transcribing takes its CTC head's best path
        (the source language), translating takes the decoder alone (`DecodeOptions.for_task`)."""
        if self.task(opts) == "transcribe" and self.net.cfg.task == "translate":
            return replace(opts.decode, search="greedy", ctc_weight=1.0)
        return opts.decode

    @property
    def can_stream(self) -> bool:
        """Whether the network runs chunk by chunk (`Encoder.forward_chunk`): absolute positions, and a conv module
        that is causal or absent (a streaming recipe's model). Others stream with full context (chunk_ms 0)."""
        return self.net.cfg.streams

    def stream(self, chunk_ms: float | None = None, left_chunks: int = -1, endpoint: EndpointRule | None = None,
               final: str = "search", **options) -> Stream:
        """A live input (`asr.inference.streaming`): `accept(samples)` pieces of any size, then `finish()`, each
        returning partial and final StreamEvents. chunk_ms: the encoder's chunk (None: 640 ms for a model that
        streams, else full context; 0: full context); left_chunks: chunks to the left each chunk sees (-1: all of
        the segment); endpoint: when a segment ends (None: WeNet's rules, `EndpointRule`); final: how its final text is
        found ("search": the offline search over the streamed encoder states; "rescore": the attention decoder
        rescores the streaming CTC search's n-best, WeNet's runtime). Keyword options as
        `transcribe`'s (beam, ctc_weight, hotwords, lm, ...)."""
        return self.open_stream(TranscribeOptions.of(**options), chunk_ms, left_chunks, endpoint, final)

    def open_stream(self, opts: TranscribeOptions, chunk_ms: float | None = None, left_chunks: int = -1,
                    endpoint: EndpointRule | None = None, final: str = "search") -> Stream:
        """`stream` with the options already gathered in a TranscribeOptions."""
        if chunk_ms is None:
            chunk_ms = 640 if self.can_stream else 0
        if chunk_ms > 0 and not self.can_stream:
            raise UserError(f"{self.name}: this model was not trained to stream chunk by chunk (its conv module "
                            f"reads ahead, or it uses relative positions or per-utterance CMN); use chunk_ms 0 "
                            f"(full context) or a streaming recipe's model (recipes/an4/streaming.yaml)")
        if self.net.cfg.task == "translate":
            raise UserError(f"{self.name or 'this model'} translates: a stream's partial texts come from the CTC "
                            "head, which spells the source language; translate whole files or segments instead")
        chunk = chunk_frames(chunk_ms, self.clock.frame_s * 1000)
        return Stream(self, chunk, left_chunks, opts, self.fusion(opts), endpoint, final)

    def transcribe(
        self, audio: str | Path | np.ndarray | torch.Tensor | list[str | Path], sample_rate: int | None = None,
        **options,
    ) -> Transcript | list[Transcript]:
        """A file path, a waveform (S,) / (C, S) at `sample_rate` (default: the model's rate), or a list of file
        paths (-> a list of Transcripts, in order; their segments share batches).

        Keyword options are the fields of `TranscribeOptions` (batch_size, word_timestamps, precision), of
        `DecodeOptions` (beam, ctc_weight, search, ...) and of `SegmentOptions` (vad, max_segment_s, ...).
        Raises UserError when a file can't be read or holds no samples or NaN/infinite ones; to go on past such
        files (a folder of a hundred with one corrupt), use `transcribe_sources`, which yields each file's
        Transcript or its error in order. An empty transcript has `no_speech` set."""
        opts = TranscribeOptions.of(**options)
        if isinstance(audio, (list, tuple)):
            items: list[tuple[str, Opener]] = [(str(a), (lambda a=a: open_audio(a))) for a in audio]
        elif isinstance(audio, (str, Path)):
            items = [(str(audio), lambda: open_audio(audio))]
        else:
            items = [("<waveform>", lambda: ArraySource(audio, sample_rate or self.sample_rate))]
        results = []
        for _, result in self.transcribe_sources(items, opts):
            if isinstance(result, UserError):
                raise result
            results.append(result)
        return results if isinstance(audio, (list, tuple)) else results[0]

    def transcribe_sources(
        self,
        items: Iterable[tuple[str, Opener]],
        opts: TranscribeOptions = TranscribeOptions(),  # noqa: B008 - frozen
        on_audio: Callable[[float], None] | None = None,
    ) -> Iterator[tuple[str, Transcript | UserError]]:
        """(name, opener) pairs -> (name, Transcript or the UserError that stopped that file), in input order.

        Segments of consecutive files share batches; a file is yielded once its last segment is decoded.
        `on_audio(seconds)` is called after each batch with the seconds of audio it held (progress bars).
        With `opts.streaming` each file is fed to a stream instead (`stream_source`), as it would arrive live."""
        if opts.precision == "bf16" and self.backend != "torch":
            raise UserError(f"{self.name}: --precision bf16 is PyTorch's autocast; an exported folder runs in fp32 "
                            f"(or int8: `asr export --format onnx --quantize int8`)")
        if opts.streaming is not None:
            yield from self._stream_sources(items, opts, on_audio)
            return
        queue: list[Job] = []
        files: dict[int, InFlight] = {}  # inputs whose results are not yet all out, by position
        next_out = 0

        def finished() -> Iterator[tuple[str, Transcript | UserError]]:
            nonlocal next_out
            while next_out in files and files[next_out].done:
                f = files.pop(next_out)
                next_out += 1
                yield f.name, f.error or self.assemble(f)

        for job in self._jobs(items, opts.segments, files):
            if job is not None:
                queue.append(job)
            if len(queue) >= opts.batch_size:
                self._decode_batch(queue, files, opts, on_audio)
                queue = []
            yield from finished()
        if queue:
            self._decode_batch(queue, files, opts, on_audio)
        yield from finished()

    # ---- internals ------------------------------------------------------------------------------------
    def _stream_sources(self, items: Iterable[tuple[str, Opener]], opts: TranscribeOptions,
                        on_audio: Callable[[float], None] | None) -> Iterator[tuple[str, Transcript | UserError]]:
        for name, opener in items:
            try:
                src = opener()
                with src:
                    _check_samples(name, src, measure(src))
                    result: Transcript | UserError = stream_source(self, name, src, opts)
                if on_audio is not None:
                    on_audio(result.duration)
            except UserError as e:
                result = e
            yield name, result

    def _jobs(
        self, items: Iterable[tuple[str, Opener]], seg_opts: SegmentOptions, files: dict[int, InFlight]
    ) -> Iterator[Job | None]:
        """Segments of every file, read one at a time; None after each file, so the caller can hand out
        results that are ready. A file that fails records its error and yields no more segments."""
        for key, (name, opener) in enumerate(items):
            f = files[key] = InFlight(name, time.perf_counter())
            try:
                plan = self.plan(key, name, opener, seg_opts)
                with plan.src:
                    f.duration, f.count = plan.src.duration, len(plan.segments)
                    yield from plan.jobs()
            except UserError as e:
                f.error = e
            yield None

    def plan(self, key: int, name: str, opener: Opener, seg_opts: SegmentOptions) -> Plan:
        """Open one input, measure it in one pass and find its segments; raises UserError (the file closed)
        when it can't be read or holds no samples or NaN/infinite ones."""
        src = opener()
        try:
            levels = measure(src)  # (T,) energies etc.: one pass over the file, block by block
            _check_samples(name, src, levels)
            threshold = speech_threshold(levels.energy, seg_opts.margin_db, seg_opts.range_db)
            return Plan(key, src, levels, find_segments(src, seg_opts, levels), threshold, self.sample_rate)
        except BaseException:
            src.close()
            raise

    def _decode_batch(self, jobs: list[Job], files: dict[int, InFlight], opts: TranscribeOptions,
                      on_audio: Callable[[float], None] | None) -> None:
        for j, result in zip(jobs, self.decode_jobs(jobs, opts)):
            files[j.key].results[j.index] = result
        if on_audio is not None:
            on_audio(sum(len(j.wave) for j in jobs) / self.sample_rate)

    def recognise_jobs(self, jobs: list[Job], opts: TranscribeOptions) -> Recognition:
        """Segments of any files as one batch (B, S) -> their Recognition (asr.decoding.recognition)."""
        dev = self.device
        lens = torch.tensor([len(j.wave) for j in jobs])
        wave = torch.zeros(len(jobs), int(lens.max()))  # (B, S)
        for b, j in enumerate(jobs):
            wave[b, : len(j.wave)] = torch.from_numpy(j.wave)
        return recognise(self.net, wave.to(dev), lens.to(dev), self.decode_options(opts), self.tokenizer,
                         self.fusion(opts), bf16=opts.precision == "bf16")

    def recognise_whole(self, name: str, opener: Opener, opts: TranscribeOptions) -> tuple[Job, Recognition]:
        """One input as one segment however long (no VAD, no windows), its audio prepared as `transcribe` prepares
        a segment (DC removed, level scaled), recognised: what the attention picture and confidence calibration
        read. For an input of at most `max_segment_s` (20 s) that is exactly what `transcribe` decodes.
        Raises UserError for an input `transcribe` refuses, or one with no sound at all."""
        plan = self.plan(0, name, opener, replace(opts.segments, max_segment_s=math.inf))
        with plan.src:
            jobs = list(plan.jobs())
        if not jobs:
            raise UserError(f"{name}: the recording is silent (no sample above the noise floor); nothing to show")
        return jobs[0], self.recognise_jobs(jobs, opts)

    def attention_maps(self, name: str, opener: Opener, opts: TranscribeOptions, text: str | None = None
                       ) -> AttentionMaps:
        """The attention picture's weights for one input (`recognise_whole`): drawn for its transcript, or for a
        forced `text` (teacher forcing)."""
        from asr.plots import attention_maps

        if self.backend != "torch":
            raise UserError(f"{self.name}: an exported (ONNX) folder holds no attention weights; draw the pictures "
                            f"from the PyTorch model file it was exported from")
        if text is not None:  # the decoder is forced: no search, only CTC's path (a translation's source words)
            opts = replace(opts, decode=replace(opts.decode, search="greedy", ctc_weight=1.0))
        job, rec = self.recognise_whole(name, opener, opts)
        tokens = rec.tokens[0] if text is None else self.tokenizer.encode(text)
        maps = attention_maps(self.net, self.tokenizer, job.wave, tokens, text)
        if self.net.cfg.task == "translate":  # where the source's words are: the CTC head's path, aligned
            source = ctc_greedy(rec.log_probs[:1], rec.enc_lens[:1])[0]
            words = align_words(rec.posteriors(0), source, self.tokenizer, self.clock, 0.0, job.energy, job.threshold)
            maps = replace(maps, source_words=[(w.word, w.start, w.end) for w in words])
        return maps

    @torch.no_grad()
    def decode_jobs(self, jobs: list[Job], opts: TranscribeOptions) -> list[SegmentResult]:
        """Segments of any files, decoded as one batch: (B, S) audio -> one SegmentResult per job, in order."""
        rec = self.recognise_jobs(jobs, opts)
        # A translation's tokens are not the CTC head's language: no vocabulary check, no CTC-aligned word times
        spelled = self.task(opts) == "transcribe"
        fits = transcript_fit(rec.log_probs, rec.enc_lens, rec.tokens).tolist() if spelled else [None] * len(jobs)
        # A translation also reads its source off the CTC head (best path, as `task="transcribe"` would): free here
        sources = ([self.tokenizer.decode(t).strip() for t in ctc_greedy(rec.log_probs, rec.enc_lens)] if not spelled
                   else [None] * len(jobs))
        out = []
        for b, (j, tokens, text) in enumerate(zip(jobs, rec.tokens, rec.texts)):
            words = []
            if opts.word_timestamps and tokens and spelled:
                words = align_words(rec.posteriors(b), tokens, self.tokenizer, self.clock, j.segment.start,
                                    j.energy, j.threshold, calibration=self.calibration)
            out.append(SegmentResult(round(j.segment.start, 3), round(j.segment.end, 3), text, words, list(tokens),
                                     fits[b], sources[b]))
        return out

    def assemble(self, f: InFlight) -> Transcript:
        """The Transcript of an input whose segments are all decoded."""
        segments = [f.results[i] for i in range(f.count or 0)]
        fit = file_fit([(s.fit, s.end - s.start) for s in segments if s.fit is not None])
        segments = [s for s in segments if s.text]  # silence the VAD let through decodes to nothing
        text = " ".join(s.text for s in segments)
        return Transcript(text, segments, round(f.duration, 3), f.name, self.name, time.perf_counter() - f.started,
                          no_speech=not text, fit=fit)


def _check_samples(name: str, src: AudioSource, levels: Levels) -> None:
    """A file with nothing in it, or with samples that are not numbers, is an error naming it."""
    if src.num_samples == 0:
        raise UserError(f"{name}: the file holds no audio samples (a valid header and 0 s of audio); "
                        f"nothing to transcribe: check how it was written")
    if levels.nonfinite:
        raise UserError(f"{name}: {levels.nonfinite} of {src.num_samples} samples are NaN or infinite (the first "
                        f"at {levels.first_nonfinite_s:.3f} s); the file is damaged: repair or re-export it")


BACKENDS = ("auto", "torch", "onnxruntime")


def load_model(path: str | Path, device: str | torch.device = "cpu", backend: str = "auto",
               compile: bool = False) -> Transcriber:
    """Load a model file written by `asr export` (or `asr.model.io.save_model`), or a folder written by `asr export
    --format onnx` (run by onnxruntime). backend: "auto" (by what `path` is), "torch" or "onnxruntime" (then `path`
    must be of that kind). compile: torch.compile the encoder (dynamic shapes; the PyTorch backend only). Raises
    UserError if unusable."""
    device = torch.device(device)
    folder = (Path(path) / "model.json").is_file()  # an export (asr.runtime): its modules load only then
    if backend == "onnxruntime" and not folder:
        raise UserError(f"{path}: --backend onnxruntime runs an exported folder; write one with "
                        f"`asr export {path} --format onnx --out DIR` and give DIR")
    if backend == "torch" and folder:
        raise UserError(f"{path} is an exported (ONNX) folder: run it with --backend onnxruntime (or auto), or "
                        f"give the PyTorch model file it was exported from")
    if backend not in BACKENDS:
        raise UserError(f"--backend {backend}: unknown; choose one of {', '.join(BACKENDS)}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    if folder:
        if device.type != "cpu":
            raise UserError(f"{path}: an exported folder runs on onnxruntime's CPU provider here; use --device cpu")
        if compile:
            raise UserError(f"{path}: --compile is PyTorch's; an exported folder is already optimised by "
                            f"onnxruntime")
        from asr.runtime.onnx_net import load_onnx_folder

        net, tokenizer, meta = load_onnx_folder(path)
        return Transcriber(net, tokenizer, meta, name=Path(path).name)
    net, tokenizer, meta = load_model_file(path, device)
    if compile:
        net.encoder.compile(dynamic=True)
    return Transcriber(net, tokenizer, meta, name=Path(path).name)
