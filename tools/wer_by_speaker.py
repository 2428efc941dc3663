"""Usage:
    .venv/bin/python tools/wer_by_speaker.py exp/decode/recogs-test_cuts.txt data/tts-sentences/test_cuts.jsonl.gz

WER per speaker (the manifest's supervision `speaker`: a TTS voice, a corpus speaker) from the recogs file
`asr evaluate --out-dir` writes, and the overall WER, one line each.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict


def read_recogs(path: str) -> dict[str, tuple[str, str]]:
    """utterance id -> (reference, hypothesis) from icefall's recogs-*.txt layout."""
    refs, hyps = {}, {}
    for line in open(path, encoding="utf-8"):
        key, _, rest = line.rstrip("\n").partition(":\t")
        if rest.startswith("ref="):
            refs[key] = " ".join(ast.literal_eval(rest[4:]))
        elif rest.startswith("hyp="):
            hyps[key] = " ".join(ast.literal_eval(rest[4:]))
    return {k: (refs[k], hyps.get(k, "")) for k in refs}


def main() -> None:
    from asr.data.manifests import load_cuts
    from asr.metrics import error_report

    recogs = read_recogs(sys.argv[1])
    speaker = {c.id: (c.supervisions[0].speaker or "?") for c in load_cuts(sys.argv[2:])}
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, pair in recogs.items():
        groups[speaker.get(key, "?")].append(pair)
    for name, pairs in sorted(groups.items()):
        refs, hyps = zip(*pairs)
        print(f"{name}\t{len(pairs)} utt\tWER {100 * error_report(list(refs), list(hyps)).wer:.2f}%")
    refs, hyps = zip(*recogs.values())
    print(f"all\t{len(recogs)} utt\tWER {100 * error_report(list(refs), list(hyps)).wer:.2f}%")


if __name__ == "__main__":
    main()
