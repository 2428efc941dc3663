"""Usage:
    asr plot-attention --model exp/demo/model.pt audio.wav --out attention.png
    asr plot-attention --model model.pt audio.flac --out forced.png --text "three seven one"

Draws the log-mel spectrogram, the decoder's cross-attention (averaged, and per layer and head; tokens down,
time across) and the encoder's self-attention per layer into one PNG. Without --text the model's own transcript
is drawn; with it, the decoder is teacher-forced on that text. The audio should be one utterance (a few to
~30 seconds): encoder self-attention grows with the square of its length.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="one audio file (any format, rate and channel count)")
    parser.add_argument("--model", required=True, help="model file from `asr export`")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--text", help="teacher-force this transcript instead of decoding")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="default cpu")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="refuse longer audio (default 60)")


def run(args: argparse.Namespace) -> int:
    from asr.api import load_model
    from asr.audio import load_audio
    from asr.errors import UserError
    from asr.plots import save_attention_png

    model = load_model(args.model, args.device)
    wave = load_audio(args.audio, model.sample_rate)
    seconds = len(wave) / model.sample_rate
    if seconds > args.max_seconds:
        raise UserError(f"{args.audio} is {seconds:.0f} s long; plot one utterance (cut it, or raise --max-seconds)")
    if seconds < 0.2:
        raise UserError(f"{args.audio} is only {seconds:.2f} s long; nothing to draw")
    path = save_attention_png(model.net, model.tokenizer, wave, args.out, text=args.text,
                              title=f"{args.audio} ({seconds:.1f} s)")
    print(f"wrote {path}")
    return 0
