"""Usage:
    python tools/loso_table.py exp/loso-band-fmax-cmvnfix exp/loso-cmvnfix-seed1 exp/loso-cmvnfix-seed2
    python tools/loso_table.py --markdown exp/loso-a exp/loso-b
    python tools/loso_table.py --vote exp/loso-a exp/loso-b exp/loso-c   # + the runs' majority vote per take, and
                                                                         # the takes every run / some run got wrong

Leave-one-speaker-out runs (`asr demo --holdout-speaker all`) side by side: each run's per-speaker FSDD WER and
mean, then, over the runs given (seeds of one recipe), each speaker's mean, min-max and the spread of the means.
Reads OUT/leave_one_speaker_out.json, or the OUT/without-NAME/results.json of a run still going. `--vote` adds a
row for the ensemble of the runs: per take, the hypothesis most runs gave (ties: the first run's), scored as the
share of takes whose hypothesis is not the reference (FSDD takes are one word each, so that is their WER),
and two rows that bound what any choice among the runs could reach: the share of takes that every run got wrong
(no vote or selection recovers them) and that at least one run got wrong.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
from pathlib import Path

from wer_by_speaker import read_recogs  # tools/ is on the path when a tool runs


def load_run(out: Path) -> dict[str, tuple[float, float]]:
    """{speaker: (FSDD WER %, held-out TTS WER %)} for one run folder."""
    table = out / "leave_one_speaker_out.json"
    if table.is_file():
        rows = json.loads(table.read_text())["speakers"]
        return {k: (100 * v["fsdd_wer"], 100 * v["tts_heldout_wer"]) for k, v in rows.items()}
    found = {}
    for res in sorted(out.glob("without-*/results.json")):
        r = json.loads(res.read_text())
        found[r["holdout_speaker"]] = (100 * r["fsdd_test"]["wer"], 100 * r["tts_heldout_voices"]["wer"])
    return found


def per_take(outs: list[Path], speaker: str) -> tuple[float, float, float]:
    """Over the speaker's takes, in %: the runs' majority vote wrong (ties: the first run's hypothesis), every
    run wrong, at least one run wrong."""
    loaded = [read_recogs(str(out / f"without-{speaker}" / "eval" / "recogs-fsdd_test.txt")) for out in outs]
    voted = every = some = 0
    for key, (ref, _) in loaded[0].items():
        hyps = [run[key][1] if key in run else "" for run in loaded]
        voted += collections.Counter(hyps).most_common(1)[0][0] != ref  # equal counts keep run order
        every += all(h != ref for h in hyps)
        some += any(h != ref for h in hyps)
    n = len(loaded[0]) / 100
    return voted / n, every / n, some / n


def summarise(runs: dict[str, dict[str, tuple[float, float]]]) -> list[list[str]]:
    """Rows of text: a header, one row per run, and with several runs their per-speaker mean and range."""
    speakers = sorted({s for r in runs.values() for s in r})
    rows = [["run", *speakers, "mean", "TTS mean"]]
    means = []
    for name, r in runs.items():
        fsdd = [r[s][0] for s in speakers if s in r]
        tts = [r[s][1] for s in speakers if s in r]
        full = len(fsdd) == len(speakers)
        if full:
            means.append(statistics.fmean(fsdd))
        rows.append([name, *(f"{r[s][0]:.2f}" if s in r else "-" for s in speakers),
                     f"{statistics.fmean(fsdd):.2f}" + ("" if full else " (partial)") if fsdd else "-",
                     f"{statistics.fmean(tts):.2f}" if tts else "-"])
    if len(runs) > 1:
        per = [[r[s][0] for r in runs.values() if s in r] for s in speakers]
        rows.append(["mean over runs", *(f"{statistics.fmean(v):.2f}" for v in per),
                     f"{statistics.fmean(means):.2f}" if means else "-", ""])
        rows.append(["min-max", *(f"{min(v):.1f}-{max(v):.1f}" for v in per),
                     f"{min(means):.2f}-{max(means):.2f}" if means else "-", ""])
        if len(means) > 1:
            rows.append(["std of the means", *([""] * len(speakers)), f"{statistics.stdev(means):.2f}", ""])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="asr demo --holdout-speaker all output folders")
    p.add_argument("--markdown", action="store_true", help="a Markdown table")
    p.add_argument("--vote", action="store_true",
                   help="add the runs' vote per take and the takes all / any of them got wrong (finished runs)")
    args = p.parse_args(argv)
    runs = {}
    for out in args.runs:
        r = load_run(out)
        if not r:
            print(f"{out}: no leave_one_speaker_out.json nor without-*/results.json; is it an "
                  f"`asr demo --holdout-speaker all` folder?", file=sys.stderr)
            return 2
        runs[out.name] = r
    rows = summarise(runs)
    if args.vote:
        speakers = rows[0][1:-2]
        n = len(args.runs)
        takes = list(zip(*(per_take(args.runs, s) for s in speakers)))  # (vote, every, some), each per speaker
        for name, values in zip((f"majority vote of {n}", f"wrong in all {n}", f"wrong in any of {n}"), takes):
            rows.append([name, *(f"{v:.2f}" for v in values), f"{statistics.fmean(values):.2f}", ""])
    if args.markdown:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for row in rows[1:]:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
