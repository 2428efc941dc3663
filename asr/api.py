"""The Python API: `asr.load_model(path).transcribe(path_or_waveform)`.

    import asr
    model = asr.load_model("exp/demo/model.pt")
    result = model.transcribe("meeting.flac")          # any length, format, rate and channel count
    print(result.text)
    for seg in result.segments:
        print(seg.start, seg.end, seg.text, [(w.word, w.start, w.end, w.confidence) for w in seg.words])

Pipeline per file: open (soundfile, else ffmpeg) -> 10 ms energies -> speech segments of <= 20 s (longform.py) ->
segments of many files batched (B, S) -> encoder (B, T', D) -> joint CTC/attention beam search -> loop check ->
CTC forced alignment for word times (timestamps.py). Only a batch of segments is ever in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from asr.audio import ArraySource, AudioSource, open_audio
from asr.commands import PRECISIONS, SEARCHES  # the torch-free lists the command line offers
from asr.decoding import DecodeOptions, beam_search, ctc_greedy, greedy_search
from asr.decoding.options import Hypothesis, normalised, repeating
from asr.decoding.rescore import attention_rescoring, joint_log_prob
from asr.errors import UserError
from asr.longform import HOP_S, Segment, SegmentOptions, find_segments, frame_energies, speech_threshold
from asr.model.asr_model import ASRModel
from asr.model.io import load_model_file
from asr.timestamps import FrameClock, Word, align_words
from asr.tokenizer import Tokenizer


@dataclass(frozen=True)
class TranscribeOptions:
    # Search: beam 1 with ctc_weight 0 is greedy attention; ctc_weight 1 with beam 1 is CTC best path.
    beam: int = 4
    ctc_weight: float = 0.3
    # "joint": beam search on the joint CTC/attention score. "rescore": CTC prefix beam search, then the joint
    # score picks among its `beam` best (WeNet's attention rescoring): as accurate on short segments, far more
    # robust where the decoder gets lost (13 s of digits from a model trained on 1-4 s: 3-13% WER against 3-59%).
    search: str = "joint"
    # Segments decoded together; memory is about batch_size x max_segment_s of audio.
    batch_size: int = 16
    word_timestamps: bool = True
    segments: SegmentOptions = field(default_factory=SegmentOptions)
    # Loop check: an attention (or joint) hypothesis that the repetition guard had to stop, or whose length is
    # off the CTC best path's by more than this fraction (and 2 tokens), is replaced by the CTC best path.
    ctc_length_tolerance: float = 0.25
    # "bf16": the network runs under bfloat16 autocast (features, softmaxes and search scores stay fp32): on
    # CPUs with native bf16 (AVX512-BF16, AMX) the matmuls run ~4x faster; "fp32" everywhere else.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise UserError(f"search must be one of {', '.join(SEARCHES)}, got {self.search!r}")
        if self.precision not in PRECISIONS:
            raise UserError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(beam=self.beam, ctc_weight=self.ctc_weight)


@dataclass
class SegmentResult:
    start: float  # seconds from the start of the file
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    text: str
    segments: list[SegmentResult]
    duration: float  # seconds of audio
    source: str = ""  # the file, or "<waveform>"
    model: str = ""
    seconds: float = 0.0  # wall-clock time spent, for the real-time factor

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("seconds")
        return d


@dataclass
class _Job:
    """One segment waiting in the batch: the file it came from and its audio at 16 kHz (S,)."""

    key: int
    index: int
    segment: Segment
    wave: np.ndarray
    energy: np.ndarray  # 10 ms energies of this segment, for word edges
    threshold: float


@dataclass
class _File:
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


class Model:
    """A loaded model ready to transcribe. Build with `asr.load_model(path)`."""

    def __init__(self, net: ASRModel, tokenizer: Tokenizer, meta: dict, name: str = "") -> None:
        self.net = net.eval()
        self.tokenizer = tokenizer
        self.meta = meta
        self.name = name
        self.sample_rate = net.cfg.frontend.sample_rate
        self.clock = FrameClock.of(net.cfg)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def transcribe(
        self, audio: str | Path | np.ndarray | torch.Tensor, sample_rate: int | None = None, **options
    ) -> Transcript:
        """A file path, or a waveform (S,) / (C, S) at `sample_rate` (default: the model's rate).

        Keyword options are the fields of `TranscribeOptions` (beam, ctc_weight, search, batch_size,
        word_timestamps, segments=SegmentOptions(...)). Raises UserError when the file can't be read."""
        opts = TranscribeOptions(**options)
        if isinstance(audio, (str, Path)):
            item: tuple[str, Opener] = (str(audio), lambda: open_audio(audio))
        else:
            item = ("<waveform>", lambda: ArraySource(audio, sample_rate or self.sample_rate))
        [(_, result)] = list(self.transcribe_sources([item], opts))
        if isinstance(result, UserError):
            raise result
        return result

    def transcribe_sources(
        self,
        items: Iterable[tuple[str, Opener]],
        opts: TranscribeOptions = TranscribeOptions(),  # noqa: B008 - frozen
        on_audio: Callable[[float], None] | None = None,
    ) -> Iterator[tuple[str, Transcript | UserError]]:
        """(name, opener) pairs -> (name, Transcript or the UserError that stopped that file), in input order.

        Segments of consecutive files share batches; a file is yielded once its last segment is decoded.
        `on_audio(seconds)` is called after each batch with the seconds of audio it held (progress bars)."""
        queue: list[_Job] = []
        files: dict[int, _File] = {}  # inputs whose results are not yet all out, by position
        next_out = 0

        def finished() -> Iterator[tuple[str, Transcript | UserError]]:
            nonlocal next_out
            while next_out in files and files[next_out].done:
                f = files.pop(next_out)
                next_out += 1
                yield f.name, f.error or self._assemble(f)

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
    def _jobs(
        self, items: Iterable[tuple[str, Opener]], seg_opts: SegmentOptions, files: dict[int, _File]
    ) -> Iterator[_Job | None]:
        """Segments of every file, read one at a time; None after each file, so the caller can hand out
        results that are ready. A file that fails records its error and yields no more segments."""
        for key, (name, opener) in enumerate(items):
            f = files[key] = _File(name, time.perf_counter())
            try:
                with opener() as src:
                    f.duration = src.duration
                    energy = frame_energies(src)  # (T,) one pass over the file, block by block
                    threshold = speech_threshold(energy, seg_opts)
                    segments = find_segments(src, seg_opts, energy)
                    f.count = len(segments)
                    for i, seg in enumerate(segments):
                        wave = src.read_seconds(seg.start, seg.end, self.sample_rate)
                        a, b = round(seg.start / HOP_S), round(seg.end / HOP_S)
                        yield _Job(key, i, seg, wave, energy[a:b], threshold)
            except UserError as e:
                f.error = e
            yield None

    @torch.no_grad()
    def _decode_batch(self, jobs: list[_Job], files: dict[int, _File], opts: TranscribeOptions,
                      on_audio: Callable[[float], None] | None) -> None:
        dev = self.device
        lens = torch.tensor([len(j.wave) for j in jobs])
        wave = torch.zeros(len(jobs), int(lens.max()))  # (B, S)
        for b, j in enumerate(jobs):
            wave[b, : len(j.wave)] = torch.from_numpy(j.wave)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=opts.precision == "bf16"):
            enc, enc_lens, _ = self.net.encode(wave.to(dev), lens.to(dev))  # (B, T', D), (B,)
            log_probs = self.net.ctc_log_probs(enc)  # (B, T', V) fp32
            hyps = self._search(enc, enc_lens, log_probs, opts)
        for b, (j, tokens) in enumerate(zip(jobs, hyps)):
            words = []
            if opts.word_timestamps and tokens:
                words = align_words(log_probs[b, : int(enc_lens[b])], tokens, self.tokenizer, self.clock,
                                    j.segment.start, j.energy, j.threshold)
            text = self.tokenizer.decode(tokens).strip()
            files[j.key].results[j.index] = SegmentResult(round(j.segment.start, 3), round(j.segment.end, 3),
                                                          text, words)
        if on_audio is not None:
            on_audio(float(lens.sum()) / self.sample_rate)

    def _search(self, enc: torch.Tensor, enc_lens: torch.Tensor, log_probs: torch.Tensor,
                opts: TranscribeOptions) -> list[list[int]]:
        d = opts.decode_options()
        if opts.search == "rescore" and d.beam > 1:
            return attention_rescoring(self.net, enc, enc_lens, log_probs, d.beam, d.ctc_weight)
        ctc_best = ctc_greedy(log_probs, enc_lens)
        if d.ctc_weight == 1 and d.beam == 1:
            return ctc_best
        if d.beam == 1 and d.ctc_weight == 0:
            hyps = greedy_search(self.net, enc, enc_lens, d)
        else:
            nbest = beam_search(self.net, enc, enc_lens, d)
            hyps = [h[0].tokens for h in nbest]
            if 0 < d.ctc_weight < 1:
                hyps = self._search_error_check(nbest, ctc_best, enc, enc_lens, log_probs, d)
        return [self._loop_check(h, c, d, opts.ctc_length_tolerance) for h, c in zip(hyps, ctc_best)]

    def _search_error_check(self, nbest: list[list[Hypothesis]], ctc_best: list[list[int]], enc: torch.Tensor,
                            enc_lens: torch.Tensor, log_probs: torch.Tensor, d: DecodeOptions) -> list[list[int]]:
        """The beam keeps `beam` prefixes; on input far from its training data the attention decoder can push the
        right prefix out early, and the search ends on a path the joint objective itself scores lower than CTC's
        best path (13 s of digits: -79.5 against -74.3, WER 30-54% against 3-10%). So CTC's best path is scored
        with the same objective and wins where it scores higher: a search-error guard that never picks a worse
        hypothesis under the objective."""
        ctc_scores = normalised(joint_log_prob(self.net, enc, enc_lens, log_probs, ctc_best, d.ctc_weight),
                                torch.tensor([len(c) for c in ctc_best], device=enc.device), d.length_alpha)
        return [c if float(s) > h[0].score + 1e-4 else h[0].tokens
                for h, c, s in zip(nbest, ctc_best, ctc_scores)]

    @staticmethod
    def _loop_check(hyp: list[int], ctc_best: list[int], d: DecodeOptions, tolerance: float) -> list[int]:
        """On input longer, noisier or quieter than it was trained on, the attention decoder loses its place: it
        repeats a stretch or stops early. CTC can't do either (it accounts for every frame, one label per frame
        at most), so it is the referee: a hypothesis the repetition guard stopped, or whose length is far from
        CTC's best path, is replaced by that path."""
        looped = bool(repeating(torch.tensor([hyp]), d.max_repeats, d.repeat_ngram)[0]) if hyp else False
        off = abs(len(hyp) - len(ctc_best)) > max(2, tolerance * len(ctc_best))
        return ctc_best if looped or off else hyp

    def _assemble(self, f: _File) -> Transcript:
        segments = [f.results[i] for i in range(f.count or 0)]
        segments = [s for s in segments if s.text]  # silence the VAD let through decodes to nothing
        return Transcript(" ".join(s.text for s in segments), segments, round(f.duration, 3), f.name, self.name,
                          time.perf_counter() - f.started)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> Model:
    """Load a model file written by `asr export` (or `asr.model.io.save_model`). Raises UserError if unusable."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    net, tokenizer, meta = load_model_file(path, device)
    return Model(net, tokenizer, meta, name=Path(path).name)


def with_segments(opts: TranscribeOptions, **changes) -> TranscribeOptions:
    """A copy of `opts` with some SegmentOptions fields changed."""
    return replace(opts, segments=replace(opts.segments, **changes))
