"""tools/loso_table.py: leave-one-speaker-out runs side by side, with the spread over seeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "loso_table.py"


def _finished(out: Path, wers: dict[str, float]) -> None:
    out.mkdir()
    rows = {s: {"fsdd_wer": w, "tts_heldout_wer": 0.02} for s, w in wers.items()}
    (out / "leave_one_speaker_out.json").write_text(json.dumps({"speakers": rows}))


def test_loso_table_gives_each_run_its_mean_and_the_spread_over_runs_and_reads_a_run_still_going(tmp_path):
    _finished(tmp_path / "seed0", {"a": 0.10, "b": 0.20})
    _finished(tmp_path / "seed1", {"a": 0.30, "b": 0.20})
    going = tmp_path / "seed2"
    (going / "without-a").mkdir(parents=True)
    (going / "without-a" / "results.json").write_text(json.dumps(
        {"holdout_speaker": "a", "fsdd_test": {"wer": 0.05}, "tts_heldout_voices": {"wer": 0.01}}))
    out = subprocess.run([sys.executable, str(TOOL), "--markdown", *(str(tmp_path / f"seed{i}") for i in range(3))],
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "| run | a | b | mean | TTS mean |"
    assert lines[2] == "| seed0 | 10.00 | 20.00 | 15.00 | 2.00 |"
    assert lines[3] == "| seed1 | 30.00 | 20.00 | 25.00 | 2.00 |"
    assert lines[4] == "| seed2 | 5.00 | - | 5.00 (partial) | 1.00 |"
    assert lines[5].startswith("| mean over runs | 15.00 | 20.00 | 20.00 |")  # partial runs stay out of the mean
    assert lines[6].startswith("| min-max | 5.0-30.0 | 20.0-20.0 | 15.00-25.00 |")
    assert "7.07" in lines[7]  # stdev of 15 and 25
    bad = subprocess.run([sys.executable, str(TOOL), str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_loso_vote_takes_the_hypothesis_most_runs_gave_on_each_take(tmp_path):
    hyps = {"r0": ["one", "two", "six", "eight", "zero"], "r1": ["one", "nine", "seven", "eight", "zero"],
            "r2": ["five", "nine", "six", "oh", "zero"]}
    refs = ["one", "two", "six", "three", "zero"]
    for run, hyp in hyps.items():
        _finished(tmp_path / run, {"a": sum(h != r for h, r in zip(hyp, refs)) / len(refs)})
        (tmp_path / run / "without-a" / "eval").mkdir(parents=True)
        lines = [f"{i}_a_{i}:\tref=['{r}']\n{i}_a_{i}:\thyp=['{h}']" for i, (r, h) in enumerate(zip(refs, hyp))]
        (tmp_path / run / "without-a" / "eval" / "recogs-fsdd_test.txt").write_text("\n".join(lines) + "\n")
    out = subprocess.run([sys.executable, str(TOOL), "--markdown", "--vote", *(str(tmp_path / r) for r in hyps)],
                         capture_output=True, text=True, check=True).stdout
    # votes: one (2 of 3) right, nine (2 of 3) wrong, six (2 of 3) right, eight wrong, zero right -> 2 of 5 wrong;
    # only take 3 is wrong in every run, only take 4 right in every run
    assert "| majority vote of 3 | 40.00 | 40.00 |" in out
    assert "| wrong in all 3 | 20.00 | 20.00 |" in out
    assert "| wrong in any of 3 | 80.00 | 80.00 |" in out
