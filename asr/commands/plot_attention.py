"""Usage:
    asr plot-attention --model exp/demo/model.pt audio.wav --out attention.png
    asr plot-attention --model model.pt audio.flac --out forced.png --text "three seven one"

Draws the log-mel spectrogram, the decoder's cross-attention (averaged, and per layer and head; tokens down,
time across) and the encoder's self-attention per layer into one PNG. Without --text the model's own transcript
is drawn (the file recognised whole, as `asr transcribe` recognises a file of up to 20 s: the same text with
the same settings); with it, the decoder is teacher-forced on that text (words outside the model's vocabulary are warned
about, and drawn as rows labelled "<unk> (word)"). The audio should be one utterance (a few to
~30 seconds): encoder self-attention grows with the square of its length.
"""

from __future__ import annotations

import argparse
import sys

from asr.commands import add_compute_arguments, apply_compute_arguments, decode_options
from asr.decoding.options import SEARCHES, DecodeOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="one audio file (any format, rate and channel count)")
    parser.add_argument("--model", required=True, help="model file from `asr export`")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--text", help="teacher-force this transcript instead of decoding")
    d = DecodeOptions()
    parser.add_argument("--beam", type=int, default=d.beam, help=f"beam size without --text (default {d.beam})")
    parser.add_argument("--ctc-weight", type=float, default=d.ctc_weight,
                        help=f"CTC weight of the joint score without --text (default {d.ctc_weight})")
    parser.add_argument("--search", default=d.search, choices=SEARCHES, help=f"without --text (default {d.search})")
    add_compute_arguments(parser)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="refuse longer audio (default 60)")


def run(args: argparse.Namespace) -> int:
    from asr.audio import open_audio
    from asr.errors import UserError
    from asr.inference.options import TranscribeOptions
    from asr.inference.transcriber import load_model
    from asr.plots import save_png
    from asr.tokenizer import unknown_words

    apply_compute_arguments(args)
    model = load_model(args.model, args.device)
    unknown = unknown_words(model.tokenizer, args.text) if args.text is not None else []
    if unknown:
        print(f"warning: --text has {len(unknown)} word(s) outside the model's vocabulary: "
              f"{', '.join(map(repr, unknown))}; the decoder is forced on <unk> for them (rows '<unk> (word)')",
              file=sys.stderr)
    with open_audio(args.audio) as src:
        seconds = src.duration
    if seconds > args.max_seconds:
        raise UserError(f"{args.audio} is {seconds:.0f} s long; plot one utterance (cut it, or raise --max-seconds)")
    if seconds < 0.2:
        raise UserError(f"{args.audio} is only {seconds:.2f} s long; nothing to draw")
    # The file recognised as `asr transcribe` recognises it (one segment): the picture explains that transcript
    maps = model.attention_maps(args.audio, lambda: open_audio(args.audio),
                                TranscribeOptions(decode=decode_options(args)), args.text)
    path = save_png(maps, args.out, title=f"{args.audio} ({seconds:.1f} s)")
    print(f"wrote {path}: the decoder's attention {'forced on' if args.text else 'saying'} {maps.text!r}")
    return 0
