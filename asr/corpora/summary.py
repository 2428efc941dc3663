"""What every prepared corpus leaves behind: lhotse manifests per split, and a one-line summary of each split.

Layout under the output folder, for split in train/dev/test:
    {split}_recordings.jsonl.gz   {split}_supervisions.jsonl.gz   {split}_cuts.jsonl.gz
Every cut holds one recording and one supervision whose text is already `normalise_text`-ed.

lhotse is imported inside the functions: it pulls in torch (~3 s), and `asr --help` imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asr.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSet
    from lhotse.cut import MonoCut

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class SplitSummary:
    utterances: int
    hours: float
    speakers: int
    vocabulary: int  # distinct words in the supervision texts

    def line(self, corpus: str, split: str) -> str:
        return (f"{corpus} {split}: {self.utterances:,} utterances, {self.hours:.2f} h, "
                f"{self.speakers:,} speakers, vocabulary {self.vocabulary:,} words")


def summarise(cuts: CutSet) -> SplitSummary:
    sups = [s for c in cuts for s in c.supervisions]
    return SplitSummary(
        utterances=len(cuts),
        hours=sum(c.duration for c in cuts) / 3600,
        speakers=len({s.speaker for s in sups}),
        vocabulary=len(vocabulary(cuts)),
    )


def vocabulary(cuts: CutSet) -> set[str]:
    return {w for c in cuts for s in c.supervisions for w in (s.text or "").split()}


def file_recording(recording_id: str, path: Path, sampling_rate: int, num_samples: int) -> Recording:
    """A Recording of a mono file whose length is already known (saves re-reading thousands of headers)."""
    from lhotse import AudioSource, Recording

    return Recording(
        id=recording_id,
        sources=[AudioSource(type="file", channels=[0], source=str(path))],
        sampling_rate=sampling_rate,
        num_samples=num_samples,
        duration=num_samples / sampling_rate,
    )


def utterance_cut(recording: Recording, text: str, speaker: str, custom: dict[str, Any], language: str = "English",
                  translation: dict[str, str] | None = None) -> MonoCut:
    """One cut spanning the whole recording, with one supervision; `custom` goes on both. `translation`
    ({language: text}) goes on the supervision as lhotse's speech-translation recipes store it
    (`custom["translated_text"]`), the transcript staying its `text`."""
    from lhotse import SupervisionSegment
    from lhotse.cut import MonoCut

    sup_custom = dict(custom) | ({"translated_text": dict(translation)} if translation else {})
    sup = SupervisionSegment(id=recording.id, recording_id=recording.id, start=0.0, duration=recording.duration,
                             channel=0, text=text, language=language, speaker=speaker, custom=sup_custom)
    return MonoCut(id=recording.id, start=0.0, duration=recording.duration, channel=0, recording=recording,
                   supervisions=[sup], custom=dict(custom))


MANIFEST_KINDS = ("recordings", "supervisions", "cuts")


def manifest_paths(out_dir: Path, split: str) -> dict[str, Path]:
    """{kind: out_dir/<split>_<kind>.jsonl.gz}: the three files a prepared split leaves."""
    return {kind: out_dir / f"{split}_{kind}.jsonl.gz" for kind in MANIFEST_KINDS}


def write_manifests(out_dir: Path, split: str, cuts: CutSet,
                    recordings: RecordingSet | None = None, supervisions: SupervisionSet | None = None) -> CutSet:
    """Write the three manifests of `split` (recordings and supervisions decomposed from the cuts unless given),
    the cuts file last: a split counts as prepared once all three exist (`load_split`)."""
    if recordings is None or supervisions is None:
        recordings, supervisions = cuts.decompose()[:2]
    paths = manifest_paths(out_dir, split)
    out_dir.mkdir(parents=True, exist_ok=True)
    recordings.to_file(paths["recordings"])
    supervisions.to_file(paths["supervisions"])
    cuts.to_file(paths["cuts"])
    return cuts


def load_split(out_dir: Path, split: str) -> CutSet | None:
    """`split`'s cuts when an earlier run prepared it (all three manifests exist), else None."""
    paths = manifest_paths(out_dir, split)
    if not all(p.is_file() for p in paths.values()):
        return None
    from lhotse import CutSet

    return CutSet.from_file(paths["cuts"]).to_eager()


def save_splits(out_dir: Path, splits: dict[str, list[MonoCut]]) -> dict[str, CutSet]:
    """Write the three manifests of every split; return the CutSets."""
    from lhotse import CutSet

    result = {}
    for split, cut_list in splits.items():
        if not cut_list:
            raise UserError(f"the {split} split came out empty; see the warnings above for what failed")
        result[split] = write_manifests(out_dir, split, CutSet.from_cuts(cut_list))
    return result


def load_splits(out_dir: Path) -> dict[str, CutSet] | None:
    """The CutSets of a prepared corpus, or None when any split is not (wholly) prepared."""
    loaded = {split: load_split(out_dir, split) for split in SPLITS}
    return None if any(c is None for c in loaded.values()) else loaded
