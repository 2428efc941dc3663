"""One loader for every manifest a command takes: lhotse cuts (`*_cuts.jsonl.gz`) or NeMo JSON lines.

The kind is told from the keys of the first entry, not from the file name: a NeMo line has `audio_filepath`,
a lhotse cut has `type` (MonoCut, MixedCut, ...). lhotse recordings/supervisions manifests are refused with a
pointer to the cuts manifest written beside them. lhotse is imported inside the functions: it takes ~2 s, and
`asr --help` imports the command modules that import this one.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from asr.data.jsonl import iter_jsonl, read_lines
from asr.errors import UserError, brief

if TYPE_CHECKING:
    from lhotse import CutSet

ManifestKind = Literal["lhotse", "nemo"]
CUT_TYPES = {"MonoCut", "MixedCut", "MultiCut", "PaddingCut"}


def load_cuts(paths: str | Path | Sequence[str | Path]) -> CutSet:
    """Read one or more manifests (either kind, mixed freely) into one eager CutSet."""
    from lhotse import CutSet

    from asr.data.nemo import read_nemo_manifest

    configure_audio_backend()
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise UserError("no manifest given; pass the path of a *_cuts.jsonl.gz or NeMo .jsonl manifest")
    sets = [read_nemo_manifest(p) if manifest_kind(p) == "nemo" else read_lhotse_cuts(p) for p in map(Path, paths)]
    return sets[0] if len(sets) == 1 else CutSet.from_cuts(c for s in sets for c in s)


def read_lhotse_cuts(path: Path) -> CutSet:
    """lhotse cuts, line by line: a bad line is skipped with one warning naming it (the rest still load);
    UserError when no line is usable."""
    import math

    from lhotse import CutSet
    from lhotse.serialization import deserialize_item

    def read_line(lineno: int, entry: dict | None, error: str | None):
        where = f"{path}:{lineno}"
        if error:
            raise UserError(f"{where}: {error}")
        try:
            cut = deserialize_item(entry)
        except Exception as e:  # noqa: BLE001 - lhotse raises KeyError/TypeError/ValueError for bad fields
            raise UserError(f"{where}: not a lhotse cut ({_missing_or_brief(e)})") from None
        duration = getattr(cut, "duration", None)
        if not isinstance(duration, (int, float)) or not math.isfinite(duration) or duration <= 0:
            raise UserError(f"{where}: cut {getattr(cut, 'id', '?')!r} has no positive duration ({duration})")
        return cut

    return CutSet.from_cuts(read_lines(path, read_line, "cuts"))


def _missing_or_brief(e: Exception) -> str:
    return f"missing field {e.args[0]!r}" if isinstance(e, KeyError) and e.args else brief(e)


def manifest_kind(path: str | Path) -> ManifestKind:
    """'lhotse' or 'nemo', from the keys of the first entry."""
    path = Path(path)
    for _, entry, error in iter_jsonl(path):
        if not error:  # a broken first line is reported by whoever reads the lines; the kind comes from the rest
            return kind_of(entry, path)
    raise UserError(f"{path} has no JSON object lines; a manifest needs one JSON object per line")


def kind_of(entry: dict, path: Path) -> ManifestKind:
    if "audio_filepath" in entry:
        return "nemo"
    if entry.get("type") in CUT_TYPES:
        return "lhotse"
    if "sources" in entry:
        raise UserError(f"{path} is a lhotse recordings manifest; pass the *_cuts.jsonl.gz written beside it")
    if "recording_id" in entry:
        raise UserError(f"{path} is a lhotse supervisions manifest; pass the *_cuts.jsonl.gz written beside it")
    raise UserError(
        f"{path}: unknown manifest kind (keys {sorted(entry)}); expected lhotse cuts or NeMo lines "
        "with 'audio_filepath' and 'text'"
    )


def configure_audio_backend() -> None:
    """Let soundfile read .sph files when the sph2pipe binary is absent.

    lhotse sends every .sph file to sph2pipe, which is not installed by pip. TED-LIUM's (and most) sphere files are
    plain 16-bit PCM that libsndfile reads, so without sph2pipe we drop that backend from lhotse's default chain.
    A backend chosen by the user (LHOTSE_AUDIO_BACKEND or set_current_audio_backend) is left alone.
    """
    import os

    from lhotse.audio import backend

    if shutil.which("sph2pipe") or os.environ.get("LHOTSE_AUDIO_BACKEND"):
        return
    # lhotse caches its default chain as the current backend once any audio is read, so look at that too.
    current = backend.CURRENT_AUDIO_BACKEND or backend.get_default_audio_backend()
    if not isinstance(current, backend.CompositeAudioBackend):
        return  # a single backend someone chose on purpose
    chain = [b for b in current.backends if not isinstance(b, backend.Sph2pipeSubprocessBackend)]
    if len(chain) < len(current.backends):
        backend.set_current_audio_backend(backend.CompositeAudioBackend(chain))
