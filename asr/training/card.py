"""What a training run records for its model's card (asr.model.card), and the card `asr export` writes from it.

Usage:
    card = export_card(checkpoints, paths)          # in asr.training.checkpoints.export

A run knows things the model file cannot: its training manifests and their hours, the recipe it was started with,
the code's version, the model it started from (`RunFacts`, in every checkpoint as `asr_card`), and, at each
validation, the distribution of the vocabulary score on the dev set (`dev_calibration`). `asr test` writes the
error rates it measured beside the checkpoint it scored (`<checkpoint>.test.json`, `record_test_result`); exporting
that one checkpoint puts them on the card. An average of several checkpoints was not itself tested: its card has
no results until `asr evaluate` measures them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from asr.model.card import Calibration, Corpus, ModelCard, Result, code_version

PERCENTILES = (1, 5, 10, 25, 50)


@dataclass(frozen=True)
class RunFacts:
    corpora: tuple[Corpus, ...] | None = None
    recipe: str | None = None
    code: str | None = None
    init_from: str | None = None

    def of_run(self, datamodule, init_from: str | None) -> RunFacts:
        """These facts with the training manifests of `datamodule` (an ASRDataModule, or None), the code version
        and `init_from` filled in; the recipe is kept (the command line sets it)."""
        manifests = getattr(datamodule, "manifests", {}).get("train") or []
        return replace(self, corpora=tuple(corpus_of(m) for m in manifests) or None, code=code_version(),
                       init_from=init_from)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["corpora"] = None if self.corpora is None else [asdict(c) for c in self.corpora]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunFacts:
        corpora = d.get("corpora")
        return cls(corpora=None if corpora is None else tuple(Corpus(**c) for c in corpora),
                   recipe=d.get("recipe"), code=d.get("code"), init_from=d.get("init_from"))


def corpus_of(manifest: str) -> Corpus:
    """A training manifest's utterances and hours, each cut counted once (repeats and speed copies are the
    recipe's, not the data's)."""
    from asr.data.manifests import load_cuts

    durations = [c.duration for c in load_cuts(manifest)]
    return Corpus(str(manifest), len(durations), round(sum(durations) / 3600, 3))


def dev_calibration(scores: list[float], step: int, score: str) -> dict:
    """The card's Calibration (as a dict) of the vocabulary scores of a validation's utterances."""
    values = np.percentile(np.asarray(scores, dtype=np.float64), PERCENTILES)
    return asdict(Calibration(score, {str(p): round(float(v), 5) for p, v in zip(PERCENTILES, values)},
                              len(scores), step))


def results_file(checkpoint: str | Path) -> Path:
    return Path(f"{checkpoint}.test.json")


def record_test_result(checkpoint: str | Path, result: Result) -> None:
    """Keep `result` beside `checkpoint`, replacing an earlier one on the same test set."""
    path = results_file(checkpoint)
    kept = [r for r in read_test_results(checkpoint) if r.test_set != result.test_set]
    path.write_text(json.dumps([asdict(r) for r in [*kept, result]], indent=1) + "\n")


def read_test_results(checkpoint: str | Path) -> list[Result]:
    path = results_file(checkpoint)
    if not path.is_file():
        return []
    try:
        return [Result(**r) for r in json.loads(path.read_text())]
    except (ValueError, TypeError):  # a damaged record is no result, not a failed export
        return []


def export_card(checkpoints: list[dict], paths: list[str | Path]) -> ModelCard:
    """The card of the model exported from `checkpoints` (read from `paths`): the first one's run facts and
    step, the first recorded calibration, and the test results of a single checkpoint."""
    first = checkpoints[0]
    facts = RunFacts.from_dict(first.get("asr_card") or {})
    calibration = next((c["asr_card"]["calibration"] for c in checkpoints
                        if (c.get("asr_card") or {}).get("calibration")), None)
    results = tuple(read_test_results(paths[0])) if len(paths) == 1 else ()
    return ModelCard(corpora=facts.corpora, recipe=facts.recipe, code=facts.code, init_from=facts.init_from,
                     steps=int(first.get("global_step", -1)), results=results,
                     calibration=Calibration(**calibration) if calibration else None)
