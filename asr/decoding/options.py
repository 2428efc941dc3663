"""What a search looks for and what it returns: frozen option/result dataclasses (after Whisper's
DecodingOptions/DecodingResult). Torch-free, so the command line reads its defaults from here without paying
for torch: every decoding default is defined once, in `DecodeOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from asr.errors import UserError

# "greedy": the attention decoder's most probable token per step (beam is ignored) or, with ctc_weight 1, CTC's
# best path. "joint": beam search on the joint CTC/attention score. "rescore": CTC prefix beam search, then the
# joint score picks among its `beam` best (WeNet's attention rescoring): as accurate on short segments, far more
# robust where the decoder gets lost (13 s of digits from a model trained on 1-4 s: 3-13% WER against 3-59%).
SEARCHES = ("joint", "rescore", "greedy")


@dataclass(frozen=True)
class DecodeOptions:
    # Which search (see SEARCHES).
    search: str = "joint"
    # Hypotheses kept per utterance; 1 with search "joint" is greedy on the joint score's terms.
    beam: int = 4
    # Joint score = (1 - w) * attention + w * CTC prefix score. 0 = attention only; 1 = CTC prefix beam search
    # with the decoder unused (then every token is CTC-scored, which costs T' x beam x V memory per step).
    ctc_weight: float = 0.3
    # alpha: ended hypotheses are ranked by score / (tokens + 1) ** alpha, the +1 being <eos>. 0 = raw sum,
    # which favours short outputs; 1 = mean per token. Running hypotheses all have the same length (lock-step),
    # so only the ranking of ended ones of different lengths depends on it. None: 0 when CTC is in the score
    # (its full-sequence probability already punishes a missing or an extra word, as in ESPnet, while a mean
    # per token rewards a lost decoder's extra words), 1 for attention alone (Whisper's mean).
    length_penalty: float | None = None
    # At most ceil(ratio * T') tokens (at least 1) per utterance: CTC can't place more labels than frames,
    # and a looping decoder must stop somewhere tied to the input.
    max_len_ratio: float = 1.0
    # <eos> forbidden before this many tokens (capped at the maximum length).
    min_len: int = 0
    # A hypothesis whose last tokens are one n-gram repeated this many times in a row must end now (long or
    # silent input makes attention decoders loop). 0 = off; otherwise at least 2.
    max_repeats: int = 8
    # Longest n-gram the guard looks for: a character model loops over whole words, not single characters.
    repeat_ngram: int = 10
    # With 0 < ctc_weight < 1 only the best ceil(pre_beam * beam) attention candidates of each hypothesis get
    # CTC prefix scores (ESPnet's partial scoring): CTC costs T' per candidate, attention ranks all V for free.
    pre_beam: float = 1.5
    # An utterance also stops once ceil(patience * beam) hypotheses have ended (Whisper's rule), besides when
    # its best ended hypothesis can no longer be beaten or at its maximum length.
    patience: float = 1.0
    # Loop guard of the policy (`asr.decoding.policy`): an attention (or joint) hypothesis that the repetition
    # guard had to stop, or whose length is off the CTC best path's by more than this fraction (and 2 tokens), is
    # replaced by the CTC best path. None: off (the raw search, for tests and benchmarks).
    ctc_length_tolerance: float | None = 0.25
    # Search-error check of the policy: where the joint objective scores CTC's best path above the beam's best
    # hypothesis, that path is returned. False: the beam's own best stands (`plain()`).
    search_error_check: bool = True
    # Shallow fusion (`asr.decoding.fusion`), used when the search is given those models (`--lm`, `--ngram`):
    # joint += lm_weight * log P_lm + ngram_weight * ln P_ngram(words) + length_bonus * tokens. The defaults
    # are a start; `asr tune-lm` picks them on a dev set.
    lm_weight: float = 0.3
    ngram_weight: float = 0.3
    length_bonus: float = 0.0
    # Benchmarks: every hypothesis gets exactly this many tokens (<eos> suppressed before, forced at it),
    # whatever the encoder length; min_len, max_len_ratio and the repetition guard are then ignored.
    suppress_eos_until: int | None = None

    def for_task(self, task: str) -> DecodeOptions:
        """What a model of `task` decodes with. A translation model's CTC head spells the source language, not the
        decoder's, so it never enters the decoder's search: attention alone, no loop guard or search-error check
        against CTC's path (rescoring becomes the beam). ctc_weight 1 still asks for CTC's best path: the source
        transcript (`asr transcribe --task transcribe` on a translation model)."""
        if task != "translate" or self.ctc_weight >= 1:
            return self
        return replace(self, search="joint" if self.search == "rescore" else self.search, ctc_weight=0.0,
                       ctc_length_tolerance=None, search_error_check=False)

    def plain(self) -> DecodeOptions:
        """The search's own output, as ESPnet's joint CTC/attention beam search returns it: no repetition stop,
        no loop guard, no search-error check (`--plain-search`)."""
        return replace(self, max_repeats=0, ctc_length_tolerance=None, search_error_check=False)

    @property
    def guards(self) -> tuple[str, ...]:
        """The policy's guards that may stop or replace the search's hypotheses, named for reports; () is the
        plain search (attention rescoring has none: only CTC-plausible paths compete)."""
        if self.search == "rescore" and self.beam > 1:
            return ()
        named = []
        if self.max_repeats > 0:
            named.append(f"repetition stop ({self.max_repeats} repeats)")
        if self.ctc_length_tolerance is not None:
            named.append(f"loop guard (CTC length tolerance {self.ctc_length_tolerance:g})")
        if self.search_error_check and self.search != "greedy" and 0 < self.ctc_weight < 1:
            named.append("search-error check")
        return tuple(named)

    @property
    def length_alpha(self) -> float:
        """The length penalty in use (see `length_penalty`)."""
        if self.length_penalty is not None:
            return self.length_penalty
        return 0.0 if self.ctc_weight > 0 else 1.0

    def __post_init__(self) -> None:
        checks = [
            (self.search in SEARCHES, f"search must be one of {', '.join(SEARCHES)}, got {self.search!r}"),
            (self.beam >= 1, f"beam must be >= 1, got {self.beam}; use 1 for greedy decoding"),
            (0.0 <= self.ctc_weight <= 1.0, f"ctc_weight must be in [0, 1], got {self.ctc_weight}"),
            (self.length_penalty is None or self.length_penalty >= 0,
             f"length_penalty must be >= 0, got {self.length_penalty}"),
            (self.max_len_ratio > 0, f"max_len_ratio must be > 0, got {self.max_len_ratio}"),
            (self.min_len >= 0, f"min_len must be >= 0, got {self.min_len}"),
            (self.max_repeats == 0 or self.max_repeats >= 2,
             f"max_repeats must be 0 (off) or >= 2, got {self.max_repeats}"),
            (self.repeat_ngram >= 1, f"repeat_ngram must be >= 1, got {self.repeat_ngram}"),
            (self.pre_beam >= 1, f"pre_beam must be >= 1, got {self.pre_beam}"),
            (self.patience > 0, f"patience must be > 0, got {self.patience}"),
            (self.ctc_length_tolerance is None or self.ctc_length_tolerance >= 0,
             f"ctc_length_tolerance must be None or >= 0, got {self.ctc_length_tolerance}"),
            (self.lm_weight >= 0, f"lm_weight must be >= 0, got {self.lm_weight}"),
            (self.ngram_weight >= 0, f"ngram_weight must be >= 0, got {self.ngram_weight}"),
            (self.suppress_eos_until is None or self.suppress_eos_until >= 1,
             f"suppress_eos_until must be None or >= 1, got {self.suppress_eos_until}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(f"bad decoding option: {message}; fix the value")


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[int]  # token ids, without <sos>/<eos>
    score: float  # log_prob / (len(tokens) + 1) ** DecodeOptions.length_alpha: what n-best lists are sorted by
    log_prob: float  # joint log-score of tokens + <eos>
    token_log_probs: list[float]  # joint log-score gained by each token (for confidences); <eos> excluded
    scores: dict[str, float] = field(default_factory=dict)  # unweighted total per scorer: "decoder", "ctc", ...
