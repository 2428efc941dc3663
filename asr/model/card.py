"""A model file's card: what it was trained on, what it can spell, how well it did, and where it came from.

Usage:
    asr info exp/demo/model.pt                      # prints the card
    curl http://127.0.0.1:8000/v1/models            # the server shows it as each model's "card"

    from asr.model.card import ModelCard
    card = ModelCard.of(meta)                       # meta: the third thing `load_model_file` returns
    print("\\n".join(card.lines()))

`asr export` writes it from what the training run recorded in its checkpoints (`ASRTask.on_save_checkpoint`): the
training manifests and their hours, the recipe and the code's git commit, the model it was fine-tuned from, and the
dev-set distribution of the vocabulary score (`asr.inference.coverage`); the results `asr test` measured on the
exported checkpoint; the vocabulary, the parameter count and the date. Every `save_model` fills in at least the
vocabulary, the parameters, the code version and the date. A field nobody recorded is None ("unknown"), and a model
file written before cards existed loads with a card of unknowns.
"""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Corpus:
    """One training manifest: its path as the recipe named it, its utterances and hours (once, not repeated)."""

    manifest: str
    utterances: int
    hours: float


@dataclass(frozen=True)
class Result:
    """An error rate measured on a test set."""

    test_set: str  # the manifest(s), comma-separated
    wer: float  # fractions, not percentages
    cer: float
    utterances: int
    by: str  # what measured it, e.g. "asr test of epoch=9-val_wer=0.0100.ckpt"


@dataclass(frozen=True)
class Calibration:
    """The vocabulary check's score (asr.inference.coverage) on the dev set: its percentiles, to judge a file's."""

    score: str  # the score's name: a later definition is not comparable with an earlier one
    percentiles: dict[str, float]  # "1", "5", "50" -> the score at that percentile of dev utterances
    utterances: int
    step: int = -1  # the training step whose weights were measured


@dataclass(frozen=True)
class ModelCard:
    corpora: tuple[Corpus, ...] | None = None  # training data
    vocabulary: dict | None = None  # {"kind": "word", "size": 14} (size counts the specials)
    results: tuple[Result, ...] = ()
    recipe: str | None = None  # the config file(s) the run was started with
    code: str | None = None  # "git <commit>[+changes]" in a checkout, else "asr <version>"
    date: str | None = None  # when the model file was written (ISO 8601, UTC)
    parameters: int | None = None
    steps: int | None = None  # optimiser steps trained (the last checkpoint's, when several were averaged)
    init_from: str | None = None  # the model file its training started from (fine-tuning)
    calibration: Calibration | None = None
    task: str | None = None  # "transcribe", or "translate into en" (the model's config, `ModelConfig.task`)
    extra: dict = field(default_factory=dict)  # anything else a writer recorded (read back as it was written)

    @classmethod
    def of(cls, meta: dict | None) -> ModelCard:
        """The card in a model file's meta; all unknown when there is none (files written before cards)."""
        return cls.from_dict((meta or {}).get("card") or {})

    @classmethod
    def from_dict(cls, d: dict) -> ModelCard:
        known = {f.name for f in fields(cls)}
        d = dict(d)
        extra = {k: d.pop(k) for k in list(d) if k not in known}
        corpora = d.pop("corpora", None)
        results = d.pop("results", None) or ()
        calibration = d.pop("calibration", None)
        return cls(
            corpora=None if corpora is None else tuple(Corpus(**c) for c in corpora),
            results=tuple(Result(**r) for r in results),
            calibration=Calibration(**calibration) if calibration else None,
            **{k: v for k, v in d.items() if k != "extra"}, extra={**d.get("extra", {}), **extra},
        )

    def to_dict(self) -> dict:
        """Plain lists, dicts, strings and numbers: what a model file (weights_only) and JSON can hold."""
        d = asdict(self)
        d["corpora"] = None if self.corpora is None else [asdict(c) for c in self.corpora]
        d["results"] = [asdict(r) for r in self.results]
        return d

    def completed(self, parameters: int, vocabulary: dict) -> ModelCard:
        """This card with what the model file itself tells filled in, and the date and code version of now."""
        return replace(self, parameters=parameters, vocabulary=vocabulary,
                       date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       code=self.code or code_version())

    @property
    def hours(self) -> float | None:
        return None if self.corpora is None else round(sum(c.hours for c in self.corpora), 2)

    def lines(self) -> list[str]:
        """The card as `name: value` lines, for `asr info`."""
        vocab = self.vocabulary
        out = [
            f"task: {self.task or UNKNOWN}",
            f"vocabulary: {vocab['kind']}, {vocab['size']} units (specials included)" if vocab else
            f"vocabulary: {UNKNOWN}",
            f"parameters: {self.parameters / 1e6:.2f} M" if self.parameters else f"parameters: {UNKNOWN}",
        ]
        if self.corpora is None:
            out.append(f"training data: {UNKNOWN}")
        else:
            out.append(f"training data: {self.hours:g} h in {sum(c.utterances for c in self.corpora)} utterances")
            out += [f"  {c.manifest}: {c.hours:g} h, {c.utterances} utterances" for c in self.corpora]
        known = self.steps is not None and self.steps >= 0
        out.append(f"trained: {self.steps} optimiser steps" if known else f"trained: {UNKNOWN}")
        if self.init_from:
            out.append(f"fine-tuned from: {self.init_from}")
        if not self.results:
            out.append("test results: none recorded (measure them with `asr evaluate --model MODEL --manifest M`)")
        else:
            out.append("test results:")
            out += [f"  {r.test_set}: WER {100 * r.wer:.2f}%, CER {100 * r.cer:.2f}% ({r.utterances} utterances; "
                    f"{r.by})" for r in self.results]
        out += [f"recipe: {self.recipe or UNKNOWN}", f"code: {self.code or UNKNOWN}",
                f"written: {self.date or UNKNOWN}"]
        cal = self.calibration
        if cal:
            shown = ", ".join(f"{p}th {v:.4f}" for p, v in cal.percentiles.items())
            out.append(f"vocabulary check: {cal.score} on {cal.utterances} dev utterances at step {cal.step}: {shown}")
        else:
            out.append("vocabulary check: not calibrated (no dev-set scores recorded), so transcribe does not warn")
        return out


def code_version() -> str:
    """"git <commit>" (with "+changes" when the checkout has uncommitted changes to tracked files) when the asr
    package runs from a git checkout, else "asr <installed version>"."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode == 0 and (root / "asr").is_dir() and (root / ".git").exists():
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=30)
            return f"git {head.stdout.strip()}" + ("+changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"asr {version('asr')}"
    except PackageNotFoundError:
        return UNKNOWN
