"""Where the recipes' YAML and the shared conf/ files are, in a source checkout and in an installed wheel.

A wheel carries copies of the repository's `recipes/` and `conf/` inside the package, as `asr/_resources/`
(setup.py's build step puts them there), so `asr demo` and `asr bench --size` work after a plain
`pip install .`. In a source checkout (and an editable install) they are read from the repository itself.
"""

from __future__ import annotations

from pathlib import Path

from asr.errors import UserError

_PACKAGE = Path(__file__).resolve().parent


def resource_root() -> Path:
    """The folder that holds recipes/ and conf/."""
    for root in (_PACKAGE / "_resources", _PACKAGE.parent):
        if (root / "recipes").is_dir() and (root / "conf").is_dir():
            return root
    raise UserError(f"recipes/ and conf/ are neither in {_PACKAGE / '_resources'} nor beside the package; "
                    "reinstall asr (pip install .) or run from a source checkout")


def resource(relative: str) -> Path:
    """A file under recipes/ or conf/, e.g. resource("recipes/tts/digits.yaml")."""
    path = resource_root() / relative
    if not path.exists():
        raise UserError(f"{relative} is not among the installed recipes and configs ({resource_root()})")
    return path
