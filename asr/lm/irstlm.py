"""Build a word-level ARPA n-gram with IRSTLM (Debian's `irstlm` package; tools/install_system_deps.sh installs
it): sentences with <s> and </s> -> `build-lm.sh` (improved Kneser-Ney; Witten-Bell where Kneser-Ney's count
statistics are degenerate, as on a tiny vocabulary) -> `compile-lm --text=yes` -> ARPA. No compiler needed,
unlike KenLM's lmplz. Text is normalised as training targets are."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from asr.errors import UserError
from asr.text import normalise_text

IRSTLM_DIRS = ("/usr/lib/irstlm", "/usr/local/lib/irstlm")


def irstlm_home() -> Path:
    for d in [os.environ.get("IRSTLM", ""), *IRSTLM_DIRS]:
        if d and (Path(d) / "bin" / "build-lm.sh").is_file():
            return Path(d)
    raise UserError("IRSTLM is not installed (build-lm.sh not found); install the Debian package `irstlm` "
                    "(tools/install_system_deps.sh does it) or set IRSTLM to its folder")


SMOOTHINGS = ("improved-kneser-ney", "witten-bell")


def build_arpa(sentences: list[str], out: Path, order: int = 3) -> tuple[Path, str]:
    """Write an ARPA file of `order` estimated on `sentences` to `out` (gzipped when it ends in .gz); returns it
    and the smoothing that worked."""
    if order < 1:
        raise UserError(f"--order must be at least 1, got {order}")
    home = irstlm_home()
    env = {**os.environ, "IRSTLM": str(home), "PATH": f"{home / 'bin'}:{os.environ.get('PATH', '')}"}
    lines = [t for t in (normalise_text(s) for s in sentences) if t]
    if not lines:
        raise UserError("no words to build an n-gram from")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="irstlm-") as tmp:
        work = Path(tmp)
        (work / "text.se").write_text("".join(f"<s> {t} </s>\n" for t in lines))
        ilm = work / "lm.ilm.gz"
        for smoothing in SMOOTHINGS:  # build-lm.sh exits 0 even when it fails: its output tells
            (work / "log").unlink(missing_ok=True)  # it refuses to write over a log
            _run([str(home / "bin" / "build-lm.sh"), "-i", str(work / "text.se"), "-n", str(order), "-o", str(ilm),
                  "-k", "1", "-s", smoothing, "-t", str(work / "stat"), "-l", str(work / "log")], env)
            if ilm.is_file():
                break
        else:
            log = (work / "log").read_text(errors="replace").strip().splitlines()[-3:] if (work / "log").is_file() else []
            raise UserError(f"IRSTLM could not estimate a {order}-gram from {len(lines)} sentences "
                            f"({' / '.join(log) or 'no log'}); give more text or a lower --order")
        _run([str(home / "bin" / "compile-lm"), str(ilm), "--text=yes", str(work / "lm.arpa")], env)
        arpa = work / "lm.arpa"
        if out.suffix == ".gz":
            with arpa.open("rb") as src, gzip.open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.move(arpa, out)
    return out, smoothing


def _run(cmd: list[str], env: dict[str, str]) -> None:
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"IRSTLM failed ({Path(cmd[0]).name} exit {r.returncode}: {tail[0]})")
