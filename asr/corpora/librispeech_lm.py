"""LibriSpeech's language-model resources (OpenSLR 11): the official word 3-gram and 4-gram ARPA models (for
`--ngram`) and the normalised LM text, 800 M words from 14,500 books (for `asr train-lm` and `asr build-ngram`).

Usage:
    asr prepare librispeech-lm --out data/librispeech-lm                       # the default files below
    asr prepare librispeech-lm --out data/librispeech-lm --files 4-gram.arpa.gz,librispeech-lm-norm.txt.gz

Each file is fetched with a resumable download and checked against its md5 (asr.corpora.public.KNOWN_CHECKSUMS)
before it is kept; a file already there that passes the check is not fetched again. Sizes, roughly:
3-gram.arpa.gz 0.76 GB, 3-gram.pruned.1e-7.arpa.gz 34 MB, 3-gram.pruned.3e-7.arpa.gz 13 MB, 4-gram.arpa.gz
1.3 GB, librispeech-lm-norm.txt.gz 1.4 GB. `--ngram` reads them with KenLM (`asr.lm.ngram.load_ngram`: ~21 bytes an
n-gram; KenLM's `build_binary` makes a file that loads at once); the Python dicts of `asr.lm.arpa` (~320 bytes
an n-gram) fit only the pruned 3-grams (docs/performance.md, "Word n-grams").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.corpora.public import KNOWN_CHECKSUMS, file_digest
from asr.errors import UserError, brief

BASE_URL = "http://www.openslr.org/resources/11"
FILES = ("3-gram.arpa.gz", "3-gram.pruned.1e-7.arpa.gz", "3-gram.pruned.3e-7.arpa.gz", "4-gram.arpa.gz",
         "librispeech-lm-norm.txt.gz", "librispeech-vocab.txt", "librispeech-lexicon.txt")
DEFAULT_FILES = ("3-gram.pruned.1e-7.arpa.gz", "librispeech-lm-norm.txt.gz")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", default=",".join(DEFAULT_FILES),
                        help=f"comma-separated OpenSLR 11 files (default {','.join(DEFAULT_FILES)}; all: "
                             f"{','.join(FILES)})")


def prepare_librispeech_lm(out_dir: Path, files: str = ",".join(DEFAULT_FILES)) -> dict:
    """Download and verify `files` into `out_dir`; returns {} (no cuts: `asr prepare` prints a line per file)."""
    names = [f.strip() for f in files.split(",") if f.strip()]
    unknown = [n for n in names if n not in FILES]
    if unknown or not names:
        raise UserError(f"unknown LibriSpeech LM file(s) {', '.join(unknown) or '(none given)'}; choose from "
                        f"{', '.join(FILES)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = fetch_file(f"{BASE_URL}/{name}", out_dir / name,
                          f"asr prepare librispeech-lm --out {out_dir} --files {name}")
        print(f"librispeech-lm: {path} ({path.stat().st_size / 1e6:,.1f} MB, md5 checked)")
    return {}


def fetch_file(url: str, path: Path, command: str) -> Path:
    """`path` from `url`, resuming a partial file, kept only when its checksum is the known one."""
    from lhotse.utils import resumable_download

    algo, expected = KNOWN_CHECKSUMS[path.name]
    if path.is_file() and file_digest(path, algo) == expected:
        return path
    try:
        resumable_download(url, filename=path)
    except OSError as e:  # urllib's errors are OSErrors
        raise UserError(f"download of {url} failed ({brief(e)}); run `{command}` again to resume it") from e
    got = file_digest(path, algo)
    if got != expected:
        bad = path.with_name(path.name + ".bad")
        path.replace(bad)
        raise UserError(f"{url} arrived corrupt ({algo} {got}, expected {expected}); kept as {bad}; "
                        f"run `{command}` again")
    return path
