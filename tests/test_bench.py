"""`asr bench`: each subcommand runs at tiny size and prints one valid JSON line per measurement with the
documented keys; what it reports is measured, not made up: a known slow-down put inside the code it times shows
up in its numbers, which stay within what the test's own clock measured, and its FLOP count is what an
independent count of the same forward gives; bad arguments are user errors."""

import argparse
import json
import time

import pytest
import torch

from asr.bench import decode, features
from asr.cli import main
from asr.commands.bench import add_arguments

TINY = ["--size", "tiny", "--vocab", "40", "--steps", "1", "--warmup", "1", "--threads", "1"]


DELAY = 0.2  # seconds of sleep put inside the code a benchmark times


def _run(capsys, argv: list[str]) -> list[dict]:
    assert main(["bench", *argv]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    return [json.loads(line) for line in out]


def _timed(capsys, argv: list[str]) -> tuple[dict, float]:
    """The one record of `asr bench ARGV` and the seconds the whole command took by the test's own clock."""
    t0 = time.perf_counter()
    (rec,) = _run(capsys, argv)
    return rec, time.perf_counter() - t0


def _slowed(monkeypatch, owner, name: str) -> None:
    """`owner.name` sleeps DELAY before its work: a known slow-down, in wall time and not in CPU time."""
    work = getattr(owner, name)

    def slow(*args, **kwargs):
        time.sleep(DELAY)
        return work(*args, **kwargs)

    monkeypatch.setattr(owner, name, slow)


def test_train_step_json(capsys, tmp_path, monkeypatch):
    """The step's gradient clipping is slowed by DELAY: the timed step holds it whole (wall time at least DELAY
    more than CPU time), and the throughput lies between what DELAY allows and the test's own clock does."""
    _slowed(monkeypatch, torch.nn.utils, "clip_grad_norm_")
    log = tmp_path / "bench.jsonl"
    rec, wall = _timed(capsys, ["train-step", *TINY, "--batch", "2", "--frames", "120", "--tokens", "5",
                                "--json", str(log)])
    for key in ("impl", "params", "step_s_median", "audio_seconds_per_second", "peak_rss_mb", "threads"):
        assert key in rec
    assert rec["impl"] == "asr" and rec["threads"] == 1 and rec["params"] > 100_000
    audio_s = 2 * 120 / 100
    assert rec["step_s_min"] >= DELAY and rec["step_s_median"] - rec["cpu_s_median"] >= 0.95 * DELAY, rec
    assert audio_s / wall <= rec["audio_seconds_per_second"] <= audio_s / DELAY, (rec, wall)
    assert rec["peak_rss_mb"] > 50
    assert json.loads(log.read_text().splitlines()[-1]) == rec  # --json appends the same line
    from asr.hardware import cpu_flags

    assert rec["native_bf16"] == ("avx512_bf16" in cpu_flags() or "amx_bf16" in cpu_flags())


def test_train_step_set_overrides_any_model_key(capsys):
    """--set KEY=VALUE (YAML values) reaches keys without a flag of their own; the record names them."""
    argv = ["train-step", *TINY, "--batch", "1", "--frames", "60", "--tokens", "3"]
    (plain,) = _run(capsys, argv)
    (conformer,) = _run(capsys, [*argv, "--set", "pos_enc=rel", "--set", "macaron_ffn=true"])
    assert "set" not in plain and conformer["set"] == ["pos_enc=rel", "macaron_ffn=true"]
    assert conformer["params"] > plain["params"]


def test_decode_json_beam_and_greedy(capsys, monkeypatch):
    """Both searches slowed by DELAY: each timed decode holds the search, and the real-time factor lies between
    what DELAY allows and what the test's own clock does."""
    import asr.bench.decode as bench_decode

    _slowed(monkeypatch, bench_decode, "beam_search")
    _slowed(monkeypatch, bench_decode, "greedy_search")
    common = [*TINY, "--batch", "2", "--frames", "100", "--tokens", "4"]
    beam, beam_wall = _timed(capsys, ["decode", *common, "--beam", "3", "--ctc-weight", "0.3"])
    greedy, greedy_wall = _timed(capsys, ["decode", *common, "--beam", "1"])
    for rec, wall in ((beam, beam_wall), (greedy, greedy_wall)):
        for key in ("impl", "beam", "batch", "audio_s", "decode_s_median", "rtf"):
            assert key in rec
        assert rec["audio_s"] == 2.0
        assert rec["decode_s_min"] >= DELAY and rec["decode_s_median"] - rec["cpu_s_median"] >= 0.95 * DELAY, rec
        assert DELAY / 2.0 <= rec["rtf"] <= wall / 2.0, (rec, wall)
    assert (beam["beam"], beam["ctc_weight"], greedy["beam"], greedy["ctc_weight"]) == (3, 0.3, 1, 0.0)


@pytest.mark.parametrize("beam", [1, 4])
def test_decode_produces_exactly_tokens(beam):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["decode", *TINY, "--batch", "3", "--frames", "160", "--tokens", "7", "--beam", str(beam)])
    torch.set_num_threads(1)
    step, _ = decode.prepare(args, torch.device("cpu"))
    hyps = step()
    assert [len(h) for h in hyps] == [7, 7, 7]


def test_features_json_and_same_frames(capsys):
    recs = _run(capsys, ["features", "--seconds", "1", "--steps", "1", "--warmup", "1", "--threads", "1"])  # warm-up: librosa JIT-compiles on its first call
    assert [r["impl"] for r in recs] == ["asr", "librosa", "torchaudio-kaldi-fbank"]
    for rec in recs:
        assert rec["audio_s"] == 1.0 and rec["audio_seconds_per_second"] > 0
    # the three frontends compute the same number of 80-bin frames on the same audio
    from asr.features import FrontendConfig

    cfg = FrontendConfig()
    wave = features.test_audio(1, 1.0, cfg.sample_rate)
    fns = features.frontends(wave, cfg)
    ours, _ = fns["asr"]()
    assert ours.shape == (1, 98, 80)
    assert fns["librosa"]()[0].shape == (80, 98)
    assert fns["torchaudio-kaldi-fbank"]()[0].shape == (98, 80)


def test_peak_json(capsys, monkeypatch):
    """encoder_gflop is what the same forward counts through the explicit attention matmuls (need_weights), so
    the fused kernel's attention is in it; the encoder slowed by DELAY shows in its time and its GFLOP/s."""
    from asr.bench.common import model_config
    from asr.model import ASRModel
    from asr.model.encoder import Encoder
    from torch.utils.flop_counter import FlopCounterMode

    argv = ["peak", *TINY, "--batch", "2", "--frames", "400", "--matmul", "256"]  # T' 50: attention ~4% of it
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = model_config(parser.parse_args(argv))
    explicit = FlopCounterMode(display=False)
    with torch.no_grad(), explicit:
        ASRModel(cfg).encoder.eval()(torch.randn(2, 400, cfg.frontend.n_mels), torch.tensor([400, 400]), True)

    _slowed(monkeypatch, Encoder, "forward")
    rec, wall = _timed(capsys, argv)
    for key in ("matmul_gflops", "encoder_gflop", "encoder_gflops", "fraction_of_peak"):
        assert rec[key] > 0
    assert rec["encoder_gflop"] == pytest.approx(explicit.get_total_flops() / 1e9, abs=1e-3)
    assert DELAY <= rec["encoder_s_median"] <= wall, (rec, wall)
    assert rec["encoder_gflops"] <= rec["encoder_gflop"] / DELAY


@pytest.mark.parametrize(
    "argv",
    [["train-step", "--size", "tiny", "--steps", "0"], ["decode", "--size", "tiny", "--tokens", "0"],
     ["train-step", "--size", "tiny", "--d-model", "100", "--heads", "3"],
     ["train-step", "--size", "tiny", "--set", "pos_enc=rope"], ["train-step", "--size", "tiny", "--set", "d_modl=64"],
     ["train-step", "--size", "tiny", "--set", "pos_enc"]],
)
def test_bad_arguments_are_user_errors(capsys, argv):
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_chart_draws_the_json_lines(capsys, tmp_path):
    log = tmp_path / "bench.jsonl"
    _run(capsys, ["train-step", *TINY, "--batch", "1", "--frames", "60", "--tokens", "3", "--json", str(log)])
    _run(capsys, ["decode", *TINY, "--batch", "1", "--frames", "60", "--tokens", "3", "--beam", "2", "--json", str(log)])
    out = tmp_path / "perf.png"
    capsys.readouterr()
    assert main(["bench", "chart", str(log), "--out", str(out)]) == 0
    assert f"wrote {out} (2 measurements)" in capsys.readouterr().out  # says where the picture went
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    (tmp_path / "bad.jsonl").write_text("not json\n")
    assert main(["bench", "chart", str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_microbench_tool_times_both_attention_paths_and_dropout():
    """tools/microbench.py backs the component numbers in docs/performance.md: every component it documents must
    come out once, in its documented `<component>: <ms> ms (<note>)` form, with a positive finite time."""
    import math
    import re
    import subprocess
    import sys
    from pathlib import Path

    tool = Path(__file__).resolve().parents[1] / "tools" / "microbench.py"
    line_re = re.compile(r"(?P<name>[^:]+): (?P<ms>\d+\.\d{2}) ms(?: \((?P<note>[^()]+)\))?")
    dtypes = ("fp32", "bf16")
    expected = {
        "attention": {f"attention 16x4x75x75 {d} {impl}": "forward + backward"
                      for d in dtypes for impl in ("sdpa", "explicit")},
        "dropout": {"draws SFC64": "606208 x 64 bits", "draws torch random_": "606208 x 64 bits",
                    **{f"mask {d} {impl}": None for d in dtypes for impl in ("torch.where", "as integers")},
                    **{f"dropout 16x74x2048 {d} {impl}": "forward + backward"
                       for d in dtypes for impl in ("asr", "F.dropout")}},
    }
    for part, components in expected.items():
        out = subprocess.run([sys.executable, str(tool), part, "--steps", "1", "--threads", "1"],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        parsed = [line_re.fullmatch(line) for line in out]
        assert all(parsed), out  # every line in the documented form
        names = [m["name"] for m in parsed]
        assert sorted(names) == sorted(components), out  # each component exactly once, nothing else
        for m in parsed:
            ms = float(m["ms"])
            assert math.isfinite(ms) and ms > 0, m.group(0)
            assert m["note"] == components[m["name"]], m.group(0)
