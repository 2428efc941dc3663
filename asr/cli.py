"""Usage:
    asr --help
    asr prepare tts-digits --out data/tts-digits
    asr prepare-training --config recipes/tts/digits.yaml
    asr fit --config recipes/tts/digits.yaml
    asr transcribe --model exp/demo/model.pt audio.wav

The `asr` command: argument parsing and dispatch only. Each subcommand lives in `asr/commands/<name>.py` and
exposes `add_arguments(parser)` and `run(args) -> int`; it is imported only when it runs, so `asr --help`
stays fast. User errors raise `asr.errors.UserError` and print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from asr.allocator import keep_freed_memory
from asr.errors import UserError

# name -> (module under asr.commands, one-line help). Lightning's own CLI handles fit/validate/test.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("prepare", "prepare a corpus as lhotse manifests (tts-digits, tts-sentences, fsdd, librispeech, ...)"),
    "validate-data": ("validate_data", "check a manifest for missing/unreadable audio, bad text, outliers"),
    "prepare-training": ("prepare_training", "make a recipe's tokenizer and CMVN statistics before training "
                                             "(asr fit makes missing ones itself)"),
    "fit": ("lightning_cli", "train a model (LightningCLI: --config recipes/<corpus>/<config>.yaml)"),
    "validate": ("lightning_cli", "run validation of a checkpoint (LightningCLI)"),
    "test": ("lightning_cli", "run the test loop of a checkpoint (LightningCLI)"),
    "export": ("export", "turn a training checkpoint into one self-contained model file, or ONNX graphs"),
    "export-shar": ("export_shar", "write manifests' cuts and audio as lhotse Shar shards (data.shar_dirs)"),
    "average": ("average", "average the weights of several checkpoints"),
    "info": ("info", "show what a model file is: network, vocabulary, training data, test results, recipe, code"),
    "train-lm": ("train_lm", "train a transformer LM on a model's units, for fusion (--lm)"),
    "tune-lm": ("tune_lm", "pick LM weight and length bonus on a dev set"),
    "build-ngram": ("build_ngram", "estimate a word ARPA n-gram with IRSTLM, for fusion (--ngram)"),
    "transcribe": ("transcribe", "transcribe audio files, folders or globs"),
    "evaluate": ("evaluate", "score WER/CER of a model on a manifest"),
    "serve": ("serve", "serve models over HTTP: OpenAI's /v1/audio/transcriptions, batched, with a web page"),
    "plot-attention": ("plot_attention", "draw the decoder's cross-attention and the encoder's self-attention"),
    "bench": ("bench", "measure training-step, decoding, data loading, export and feature speed"),
    "demo": ("demo", "prepare, train, evaluate and transcribe offline on a CPU in under 10 minutes"),
}

PASSTHROUGH = {"prepare-training", "fit", "validate", "test"}  # arguments go to LightningCLI untouched


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, help_) in COMMANDS.items():
        if importlib.util.find_spec(f"asr.commands.{module}") is not None:
            out[name] = (module, help_)
    return out


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each subcommand's own (for its usage line on a wrong flag)."""
    parser = argparse.ArgumentParser(
        prog="asr", description="Attention-based speech recognition toolkit."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers = {}
    for name, (module, help_) in _available().items():
        p = subparsers[name] = sub.add_parser(name, help=help_, description=help_, add_help=name not in PASSTHROUGH)
        if name in PASSTHROUGH:
            p.add_argument("rest", nargs=argparse.REMAINDER)
        else:
            importlib.import_module(f"asr.commands.{module}").add_arguments(p)
    return parser, subparsers


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()  # a process-wide allocator setting: the command, not the library, decides it
    available = _available()
    if argv and argv[0] in PASSTHROUGH and argv[0] in available:
        module = importlib.import_module(f"asr.commands.{available[argv[0]][0]}")
        return _guard(lambda: module.run_lightning(argv[0], argv[1:]))
    parser, subparsers = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would blame the top-level parser; the flag belongs to the subcommand
        (subparsers.get(args.command) or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not args.command:
        parser.print_help()
        return 0
    module = importlib.import_module(f"asr.commands.{available[args.command][0]}")
    return _guard(lambda: module.run(args))


def _guard(fn) -> int:
    try:
        code = int(fn() or 0)
        sys.stdout.flush()  # inside the guard: a reader that left (`asr info m.pt | head`) is met here, not at exit
        return code
    except BrokenPipeError:
        # The reader of our output has gone; what is left to print has nobody to read it. Python's advice: point
        # stdout at /dev/null so the interpreter's last flush does not fail again, and exit as a SIGPIPE would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
