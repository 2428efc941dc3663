"""What `asr evaluate` prints and writes about an Evaluation: a header naming the settings (search, beam, weights,
fused models, the guards or the plain search, segmenting), sclite's columns per test set and per speaker, the
utterances that could not be decoded, the most frequent confusions, and the WER line; the --json summary; and
icefall's recogs-NAME.txt, errs-NAME.txt (the summary, per-utterance alignments, confusions) and
wer-summary-NAME.txt.

sclite's columns: Snt and Wrd are counts; Corr, Sub, Del, Ins and Err are percentages of Wrd, S.Err of Snt,
printed to one decimal as sclite prints them (the WER line keeps two).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from asr.decoding.options import DecodeOptions
from asr.inference.options import StreamOptions
from asr.metrics import Counts, confusion_counts

if TYPE_CHECKING:
    from asr.decoding.fusion import Fusion
    from asr.inference.evaluation import Evaluation

COLUMNS = ("Snt", "Wrd", "Corr", "Sub", "Del", "Ins", "Err", "S.Err")
TOP_CONFUSIONS = 10  # printed; the --json summary and errs-NAME.txt keep more
TOP_CONFUSIONS_JSON = 50
MAX_SPEAKER_ROWS = 50  # printed; beyond it, those with the highest Err (all in --json and errs-NAME.txt)
SEARCH_NAMES = {"joint": "joint CTC/attention beam search", "rescore": "CTC prefix beam search + attention rescoring",
                "greedy": "greedy search"}


@dataclass(frozen=True)
class Settings:
    """What a score was measured with, named in the report's header, the --json summary and icefall's tag."""

    decode: DecodeOptions
    weights: dict[str, float]  # every scorer's weight: decoder, ctc[, lm, ngram, hotwords, length]
    files: dict[str, str] = field(default_factory=dict)  # the fused models' files, by scorer
    max_segment_s: float | None = None  # None: every cut decoded whole
    precision: str = "fp32"
    streaming: StreamOptions | None = None  # None: offline

    @classmethod
    def of(cls, decode: DecodeOptions, fusion: Fusion | None, max_segment_s: float | None = None,
           precision: str = "fp32", streaming: StreamOptions | None = None) -> Settings:
        scorers = fusion.describe(decode) if fusion is not None else {
            "weights": {"decoder": 1 - decode.ctc_weight, "ctc": decode.ctc_weight}, "files": {}}
        return cls(decode, scorers["weights"], scorers["files"], max_segment_s, precision, streaming)

    @property
    def stream_line(self) -> str:
        s = self.streaming
        if s is None:
            return "offline"
        if s.chunk_ms <= 0:
            return "streamed with full context: partials by CTC prefix beam search, the final by the search above"
        left = "all of the segment" if s.left_chunks < 0 else f"{s.left_chunks} chunks"
        final = ("the search above over the streamed encoder states" if s.final == "search" else
                 "its n-best rescored with the weights above")
        return (f"streamed in chunks of {s.chunk_ms:g} ms, left context {left}: CTC prefix beam search per chunk "
                f"(partials), at each endpoint {final}")

    @property
    def plain(self) -> bool:
        """--plain-search: every guard switched off."""
        return self.decode.plain() == self.decode

    @property
    def segmenting(self) -> str:
        if self.max_segment_s is None:
            return "every cut decoded whole"
        return f"cuts over {self.max_segment_s:g} s cut by the VAD into segments of at most {self.max_segment_s:g} s"

    def header(self) -> list[str]:
        d = self.decode
        search = SEARCH_NAMES[d.search] + ("" if d.search == "greedy" else f", beam {d.beam}")
        weights = ", ".join(f"{k} {v:g}" for k, v in self.weights.items())
        guards = ", ".join(d.guards) or ("none: plain search (ESPnet's joint CTC/attention beam search)"
                                         if self.plain else f"none in a {SEARCH_NAMES[d.search]}")
        lines = [f"search     {search}; weights {weights}"]
        if self.files:
            lines.append("fused      " + ", ".join(f"{k} {v}" for k, v in self.files.items()))
        return lines + [f"guards     {guards}", f"segments   {self.segmenting}", f"precision  {self.precision}",
                        f"streaming  {self.stream_line}"]

    def tag(self) -> str:
        """icefall's settings column: beam_4_ctc_0.3[_rescore][_bf16][_lm_0.3][_ngram_0.3][_lb_1][_hotwords]
        [_plain][_seg20]."""
        d = self.decode
        tag = f"beam_{d.beam}_ctc_{d.ctc_weight:g}" + ("" if d.search == "joint" else f"_{d.search}")
        tag += "_bf16" if self.precision == "bf16" else ""
        tag += "".join(f"_{k}_{self.weights[k]:g}" for k in ("lm", "ngram") if k in self.weights)
        tag += f"_lb_{d.length_bonus:g}" if d.length_bonus else ""
        tag += "_hotwords" if "hotwords" in self.weights else ""
        tag += "_plain" if self.plain else ""
        tag += "" if self.streaming is None else f"_chunk_{self.streaming.chunk_ms:g}" + (
            "_final_rescore" if self.streaming.final == "rescore" else "")
        tag += "" if self.streaming is None or self.streaming.left_chunks < 0 else f"_left_{self.streaming.left_chunks}"
        return tag + ("" if self.max_segment_s is None else f"_seg{self.max_segment_s:g}")

    def to_dict(self) -> dict:
        return {"search": self.decode.search, "beam": self.decode.beam, "ctc_weight": self.decode.ctc_weight,
                "plain_search": self.plain, "guards": list(self.decode.guards),
                "max_segment_s": self.max_segment_s, "segmenting": self.segmenting, "precision": self.precision,
                "streaming": None if self.streaming is None else {"chunk_ms": self.streaming.chunk_ms,
                                                                  "left_chunks": self.streaming.left_chunks,
                                                                  "final": self.streaming.final},
                "scorers": {"weights": self.weights, "files": self.files}}


# ---- the printed report ----------------------------------------------------------------------------------
def report_text(ev: Evaluation, settings: Settings) -> str:
    """Header, sclite's columns per test set and per speaker, the undecoded utterances, the top confusions and
    the WER line."""
    speakers = speaker_rows(ev)
    shown = speakers if len(speakers) <= MAX_SPEAKER_ROWS else sorted(
        sorted(speakers, key=lambda s: -s[1].wer)[:MAX_SPEAKER_ROWS])
    lines = settings.header() + [""] + sclite_table("test set", test_set_rows(ev)) + [""]
    lines += sclite_table("speaker", shown)
    if len(shown) < len(speakers):
        lines.append(f"({len(speakers) - len(shown)} more speakers, with lower Err: --json, --out-dir)")
    lines.append("")
    if ev.failures:
        lines += failure_lines(ev) + [""]
    lines += confusion_table(ev, TOP_CONFUSIONS) + [""]
    return "\n".join(lines + [wer_line(ev)]) + "\n"


def test_set_rows(ev: Evaluation) -> list[tuple[str, Counts]]:
    """Per test set, and their total when there are several."""
    sets = list(ev.counts_by(lambda u: u.test_set).items())
    return sets + ([("total", ev.counts)] if len(sets) > 1 else [])


def speaker_rows(ev: Evaluation) -> list[tuple[str, Counts]]:
    return sorted(ev.counts_by(lambda u: u.speaker).items())


def wer_line(ev: Evaluation) -> str:
    r = ev.report
    return (f"WER {100 * r.wer:.2f}% ({r.substitutions + r.deletions + r.insertions}/{r.words} words: "
            f"{r.substitutions} sub, {r.deletions} del, {r.insertions} ins)  CER {100 * r.cer:.2f}%  "
            f"SER {100 * r.ser:.2f}%  RTF {ev.rtf:.4f}  on {r.utterances} utterances ({ev.audio_seconds:.1f} s)")


def sclite_table(title: str, rows: Sequence[tuple[str, Counts]]) -> list[str]:
    """`title Snt Wrd Corr Sub Del Ins Err S.Err`, then a line per (name, counts)."""
    width = max([len(title)] + [len(name) for name, _ in rows])
    out = [f"{title:<{width}} " + " ".join(f"{c:>7}" for c in COLUMNS)]
    for name, c in rows:
        pct = c.percentages()
        out.append(f"{name:<{width}} {c.sentences:>7} {c.words:>7} "
                   + " ".join(f"{pct[k]:>7.1f}" for k in COLUMNS[2:]))
    return out


def failure_lines(ev: Evaluation) -> list[str]:
    failed = ev.failures
    words = sum(len(u.ref.split()) for u in failed)
    return ([f"not decoded, scored as all words deleted: {len(failed)} of {len(ev.utterances)} utterances, "
             f"{words} reference words"] + [f"  {u.error}" for u in failed])


def confusion_table(ev: Evaluation, top: int) -> list[str]:
    """The most frequent substitutions (ref -> hyp), deletions and insertions, side by side."""
    found = confusion_counts(u.alignment for u in ev.utterances)
    columns = [[f"{n:>5}  {a} -> {b}" for (a, b), n in found.substitutions.most_common(top)],
               [f"{n:>5}  {w}" for w, n in found.deletions.most_common(top)],
               [f"{n:>5}  {w}" for w, n in found.insertions.most_common(top)]]
    titles = ["count  substitution (ref -> hyp)", "count  deletion", "count  insertion"]
    widths = [max([len(t)] + [len(x) for x in col]) for t, col in zip(titles, columns)]
    lines = []
    for i in range(1 + max(len(col) for col in columns)):
        cells = [t if i == 0 else (col[i - 1] if i - 1 < len(col) else "") for t, col in zip(titles, columns)]
        lines.append("   ".join(f"{c:<{w}}" for c, w in zip(cells, widths)).rstrip())
    return lines


# ---- the --json summary ----------------------------------------------------------------------------------
def summary(ev: Evaluation, settings: Settings, extra: dict | None = None) -> dict:
    """The --json summary: the WER and friends as fractions (wer, cer, ser, ...), sclite's rows (percentages,
    with the counts), the undecoded utterances, the top confusions and every setting."""
    found = confusion_counts(u.alignment for u in ev.utterances)
    d = ev.report.to_dict()
    d.update(
        rtf=round(ev.rtf, 5), audio_seconds=round(ev.audio_seconds, 2), decode_seconds=round(ev.decode_seconds, 2),
        failed=len(ev.failures),
        not_decoded=[{"id": u.id, "test_set": u.test_set, "words": len(u.ref.split()), "error": u.error}
                     for u in ev.failures],
        settings={**(extra or {}), **settings.to_dict()},
        sclite={"columns": list(COLUMNS), "total": sclite_row("total", ev.counts),
                "test_sets": [sclite_row(k, c) for k, c in ev.counts_by(lambda u: u.test_set).items()],
                "speakers": [sclite_row(k, c) for k, c in speaker_rows(ev)]},
        confusions={
            "substitutions": [{"ref": a, "hyp": b, "count": n}
                              for (a, b), n in found.substitutions.most_common(TOP_CONFUSIONS_JSON)],
            "deletions": [{"ref": w, "count": n} for w, n in found.deletions.most_common(TOP_CONFUSIONS_JSON)],
            "insertions": [{"hyp": w, "count": n} for w, n in found.insertions.most_common(TOP_CONFUSIONS_JSON)]},
    )
    return d


def sclite_row(name: str, c: Counts) -> dict:
    """{"name", "Snt", "Wrd", "Corr", ..., "S.Err" (percentages), "counts": every count}."""
    pct = {k: round(v, 2) for k, v in c.percentages().items()}
    return {"name": name, "Snt": c.sentences, "Wrd": c.words, **pct, "counts": asdict(c)}


# ---- icefall's report files ------------------------------------------------------------------------------
def write_reports(ev: Evaluation, out_dir: str | Path, name: str, settings: str) -> list[Path]:
    """recogs-<name>.txt, errs-<name>.txt and wer-summary-<name>.txt as icefall's decode.py leaves them;
    `settings` is the summary's settings column (`Settings.tag()`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recogs = out / f"recogs-{name}.txt"
    with recogs.open("w") as f:
        for u in sorted(ev.utterances, key=lambda u: u.id):
            f.write(f"{u.id}:\tref={u.ref.split()}\n{u.id}:\thyp={u.hyp.split()}\n")
    errs = out / f"errs-{name}.txt"
    errs.write_text(errs_text(ev))
    summary_file = out / f"wer-summary-{name}.txt"
    summary_file.write_text(f"settings\tWER\n{settings}\t{100 * ev.report.wer:.2f}\n")
    return [recogs, errs, summary_file]


def errs_text(ev: Evaluation) -> str:
    """icefall's errs file: the WER, sclite's rows, the undecoded utterances, each utterance's alignment and every
    substitution, deletion and insertion with its count."""
    r = ev.report
    lines = [
        f"%WER = {100 * r.wer:.2f}",
        f"Errors: {r.insertions} insertions, {r.deletions} deletions, {r.substitutions} substitutions, "
        f"over {r.words} reference words ({r.words - r.deletions - r.substitutions} correct)",
        f"%CER = {100 * r.cer:.2f}   %SER = {100 * r.ser:.2f}   RTF = {ev.rtf:.4f}",
        "Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, DELETIONS:, INSERTIONS:",
        "",
        *sclite_table("test set", test_set_rows(ev)),
        "",
        *sclite_table("speaker", speaker_rows(ev)),
        "",
        *(failure_lines(ev) + [""] if ev.failures else []),
        "PER-UTT DETAILS: corr or (ref->hyp)",
    ]
    for u in sorted(ev.utterances, key=lambda u: u.id):
        words = [a if kind == "equal" else f"({a or '*'}->{b or '*'})" for kind, a, b in u.alignment]
        lines.append(f"{u.id}:\t{' '.join(words)}")
    found = confusion_counts(u.alignment for u in ev.utterances)
    lines += ["", "SUBSTITUTIONS: count ref -> hyp"]
    lines += [f"{n}   {a} -> {b}" for (a, b), n in found.substitutions.most_common()]
    lines += ["", "DELETIONS: count ref"] + [f"{n}   {w}" for w, n in found.deletions.most_common()]
    lines += ["", "INSERTIONS: count hyp"] + [f"{n}   {w}" for w, n in found.insertions.most_common()]
    return "\n".join(lines) + "\n"
