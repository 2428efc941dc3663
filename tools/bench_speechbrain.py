"""Usage:
    # once: a separate virtualenv that sees asr's torch and adds SpeechBrain (never a dependency of asr)
    python3.11 -m venv /work/sb-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /work/sb-venv/lib/python3.11/site-packages/asr_torch.pth
    echo "$PWD" >> /work/sb-venv/lib/python3.11/site-packages/asr_torch.pth
    /work/sb-venv/bin/pip install "speechbrain==1.1.*"

    /work/sb-venv/bin/python tools/bench_speechbrain.py train-step --size base --batch 16 --frames 300 --tokens 20
    /work/sb-venv/bin/python tools/bench_speechbrain.py decode --size base --beam 10 --batch 8 --ctc-weight 0.3
    /work/sb-venv/bin/python tools/bench_speechbrain.py train-step --size base --compare --rounds 3 --json perf.jsonl
    # both toolkits under torch.autocast(bf16), which is what SpeechBrain's `precision: bf16` runs:
    /work/sb-venv/bin/python tools/bench_speechbrain.py train-step --size base --compare --rounds 3 --dtype bf16

The same measurements as `asr bench train-step` / `asr bench decode`, on SpeechBrain 1.1's transformer ASR
built as its LibriSpeech recipe (recipes/LibriSpeech/ASR/transformer/hparams/transformer.yaml) builds it:
ConvolutionFrontEnd (2 blocks, 64 and 32 channels, stride 2 each) -> TransformerASR (pre-norm, GELU,
regularMHA, non-causal) -> ctc_lin / seq_lin, loss = 0.3 CTC + 0.7 label-smoothed KL divergence, AdamW;
decoding with S2STransformerBeamSearcher and its CTCScorer. Widths and depths come from our --size so both
toolkits run the same transformer. It prints the same JSON keys with "impl": "speechbrain".

--compare also times asr in the same process, alternating the two for --rounds rounds of --steps each, so
load from other processes on the machine hits both alike; each line then also carries the ratio.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # asr from this checkout

from asr.allocator import keep_freed_memory  # noqa: E402
from asr.bench import decode as asr_decode  # noqa: E402
from asr.bench import train_step as asr_train  # noqa: E402
from asr.bench.common import Timings, autocast, emit, model_config, setup  # noqa: E402
from asr.commands.bench import add_arguments  # noqa: E402

BOS, EOS, PAD = 1, 2, 0  # the recipe's indices (blank = pad = 0)


def build_speechbrain(args: argparse.Namespace) -> dict:
    """The recipe's modules at our --size: CNN, Transformer, ctc_lin, seq_lin."""
    from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
    from speechbrain.lobes.models.transformer.TransformerASR import TransformerASR
    from speechbrain.nnet.linear import Linear

    cfg = model_config(args)
    n_mels = cfg.frontend.n_mels
    cnn = ConvolutionFrontEnd(
        input_shape=(8, 10, n_mels), num_blocks=2, num_layers_per_block=1, out_channels=(64, 32),
        kernel_sizes=(3, 3), strides=(2, 2), residuals=(False, False),
    )
    transformer = TransformerASR(
        input_size=32 * n_mels // 4, tgt_vocab=cfg.vocab_size, d_model=cfg.d_model, nhead=cfg.heads,
        num_encoder_layers=cfg.enc_layers, num_decoder_layers=cfg.dec_layers, d_ffn=cfg.ffn,
        dropout=cfg.dropout, activation=torch.nn.GELU, encoder_module="transformer",
        attention_type="regularMHA", normalize_before=True, causal=False,
    )
    ctc_lin = Linear(input_size=cfg.d_model, n_neurons=cfg.vocab_size)
    seq_lin = Linear(input_size=cfg.d_model, n_neurons=cfg.vocab_size)
    return {"CNN": cnn, "Transformer": transformer, "ctc_lin": ctc_lin, "seq_lin": seq_lin, "cfg": cfg}


def speechbrain_train_step(args: argparse.Namespace, device: torch.device) -> tuple[Callable[[], None], int]:
    """compute_forward + compute_objectives + fit_batch of the recipe's train.py, on random features."""
    from speechbrain.nnet.losses import ctc_loss, kldiv_loss

    torch.manual_seed(0)
    m = build_speechbrain(args)
    cfg = m.pop("cfg")
    modules = torch.nn.ModuleDict(m).to(device).train()
    opt = torch.optim.AdamW(modules.parameters(), lr=8e-4, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    B, T, U = args.batch, args.frames, args.tokens
    feats = torch.randn(B, T, cfg.frontend.n_mels, generator=g).to(device)
    wav_lens = torch.ones(B, device=device)  # SpeechBrain lengths are relative
    tokens = torch.randint(EOS + 1, cfg.vocab_size, (B, U), generator=g).to(device)
    tokens_bos = torch.cat([torch.full((B, 1), BOS, device=device), tokens], 1)
    tokens_eos = torch.cat([tokens, torch.full((B, 1), EOS, device=device)], 1)
    tokens_lens = torch.ones(B, device=device)
    log_softmax = torch.nn.LogSoftmax(dim=-1)
    params = list(modules.parameters())

    def step() -> None:
        with autocast(device, args.dtype):  # as Brain.fit_batch's training_ctx with `--precision bf16`
            src = modules["CNN"](feats)
            enc_out, pred = modules["Transformer"](src, tokens_bos, wav_lens, pad_idx=PAD)
            p_ctc = log_softmax(modules["ctc_lin"](enc_out))
            p_seq = log_softmax(modules["seq_lin"](pred))
            loss_seq = kldiv_loss(p_seq, tokens_eos, length=tokens_lens, label_smoothing=cfg.label_smoothing,
                                  reduction="batchmean")
            loss_ctc = ctc_loss(p_ctc, tokens, wav_lens, tokens_lens, blank_index=PAD, reduction="batchmean")
            loss = cfg.ctc_weight * loss_ctc + (1 - cfg.ctc_weight) * loss_seq
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, sum(p.numel() for p in params)


def speechbrain_decode(args: argparse.Namespace, device: torch.device) -> tuple[Callable[[], None], int]:
    """Encoder forward + S2STransformerBeamSearcher with the recipe's CTCScorer, <eos> held off for --tokens."""
    from speechbrain.decoders import S2STransformerBeamSearcher
    from speechbrain.decoders.scorer import CTCScorer, ScorerBuilder

    torch.manual_seed(0)
    m = build_speechbrain(args)
    cfg = m.pop("cfg")
    modules = torch.nn.ModuleDict(m).to(device).eval()
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(args.batch, args.frames, cfg.frontend.n_mels, generator=g).to(device)
    wav_lens = torch.ones(args.batch, device=device)
    with torch.no_grad():
        t_enc = modules["Transformer"].encode(modules["CNN"](feats), wav_lens).shape[1]
    # min = max decode steps = --tokens + 1: <eos> is masked before min and the search stops at max, where
    # SpeechBrain drops the last step's token as if it were <eos>. Ours also runs --tokens + 1 decoder steps:
    # --tokens tokens, then the forced <eos>.
    ratio = (args.tokens + 1.5) / t_enc
    common = dict(bos_index=BOS, eos_index=EOS, min_decode_ratio=ratio, max_decode_ratio=ratio)
    # Its greedy searcher can't hold <eos> off, so --beam 1 runs the beam searcher with one hypothesis (no CTC,
    # as ours).
    scorer = None
    if args.ctc_weight > 0 and args.beam > 1:
        ctc = CTCScorer(ctc_fc=modules["ctc_lin"], blank_index=PAD, eos_index=EOS)
        scorer = ScorerBuilder(full_scorers=[ctc], weights={"ctc": args.ctc_weight})
    searcher = S2STransformerBeamSearcher(
        modules=[modules["Transformer"], modules["seq_lin"]], beam_size=args.beam,
        using_eos_threshold=False, length_normalization=True, scorer=scorer, **common,
    )

    @torch.no_grad()
    def step() -> None:
        with autocast(device, args.dtype):  # as evaluate_batch's eval context with `--eval_precision bf16`
            enc = modules["Transformer"].encode(modules["CNN"](feats), wav_lens)
            hyps = searcher(enc, wav_lens)[0]
        assert all(len(h) == args.tokens for h in hyps), [len(h) for h in hyps]

    return step, sum(p.numel() for p in modules.parameters())


def interleaved(steps: dict[str, Callable[[], None]], args: argparse.Namespace, device: torch.device) -> dict:
    """Warm each up, then alternate rounds of --steps timed runs; all timings per implementation."""
    times = {name: Timings() for name in steps}
    for fn in steps.values():
        for _ in range(args.warmup):
            fn()
    for r in range(args.rounds):
        for name, fn in steps.items():
            for _ in range(args.steps):
                times[name].add(fn, device)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{n} {t.median:.3f}s" for n, t in times.items()), file=sys.stderr, flush=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    for action in parser._subparsers._group_actions[0].choices.values():
        action.add_argument("--compare", action="store_true", help="time asr too, alternating, in this process")
        action.add_argument("--rounds", type=int, default=1, help="alternating rounds with --compare (default 1)")
    args = parser.parse_args()
    keep_freed_memory()  # as the `asr` command does; process-wide, so SpeechBrain runs with it too
    device = setup(args)
    if args.bench == "train-step":
        builders = {"speechbrain": speechbrain_train_step, "asr": asr_train.prepare}
        record = asr_train.record
    elif args.bench == "decode":
        builders = {"speechbrain": speechbrain_decode, "asr": asr_decode.prepare}
        record = asr_decode.record
    else:
        parser.error("only train-step and decode have a SpeechBrain counterpart")
    if not args.compare:
        builders.pop("asr")
        args.rounds = 1
    built = {name: build(args, device) for name, build in builders.items()}
    times = interleaved({name: fn for name, (fn, _) in built.items()}, args, device)
    records = {name: record(args, device, name, built[name][1], times[name]) for name in built}
    if args.compare:
        key = "audio_seconds_per_second" if args.bench == "train-step" else "decode_s_median"
        sb, ours = records["speechbrain"][key], records["asr"][key]
        ratio = ours / sb if args.bench == "train-step" else sb / ours
        cpu_ratio = records["speechbrain"]["cpu_s_median"] / records["asr"]["cpu_s_median"]
        for rec in records.values():
            rec["asr_speedup_vs_speechbrain"] = round(ratio, 3)  # wall clock
            rec["asr_speedup_vs_speechbrain_cpu_time"] = round(cpu_ratio, 3)
    for rec in records.values():
        emit(rec, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
