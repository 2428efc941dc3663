"""Usage:
    asr transcribe --model exp/demo/model.pt audio.wav
    asr transcribe --model exp/demo/model.pt recordings/ 'more/*.mp3' --output-dir out --format all
    asr transcribe --model exp/demo/model.pt lecture.m4a --format srt --beam 8 --ctc-weight 0.5 --device cuda
    asr transcribe --model model.pt calls/ --lm lm.pt --lm-weight 0.3 --hotwords names.txt   # fusion, biasing
    asr transcribe --model st.pt --task translate talk.wav       # a speech-translation model: into its language
    asr transcribe --model st.pt --task transcribe talk.wav      # ... or its CTC head's transcript of the source

PATHs are files, folders (searched recursively for audio) or globs; any length, format, sample rate and channel
count. Without --output-dir the transcripts go to stdout: txt prints one line per segment for one file and
`path<TAB>text` per file for several; json prints one JSON object per file and line; srt/vtt/tsv print a
`==> path <==` header before each file when there are several.

--output-dir writes `<name>.<format>` files, mirroring the folders below the folder or glob root each input was
found under (`in/a/x.wav` from `in/` -> `OUT/a/x.txt`). Inputs that would write the same file (`x.mp3` and
`x.wav` side by side, or `a/x.wav` and `b/x.wav` given one by one) are all transcribed and each keeps its
extension (`OUT/x.mp3.txt`, `OUT/x.wav.txt`), with one `note:` line on stderr; where that name is taken too, the
first free of `x.wav.2`, `x.wav.3`, ... in the order the inputs were given. No input's transcript is written
over by another's (names compared ignoring case); an input whose name collides with none keeps its plain name.

Every input gets an answer. A file that can't be transcribed (unreadable, no samples, NaN or infinite samples)
gets one `error:` line on stderr and the others are still transcribed; the exit code is then 1. A file in which
nothing was recognised as speech (silence, noise) gets an empty transcript, a `note:` line on stderr, and
`"no_speech": true` in json. A file whose transcript explains its audio worse than nearly all of the model's dev
set did (words outside the model's vocabulary, noise it took for speech; asr.inference.coverage) is still
transcribed, with one `warning:` line on stderr.
"""

from __future__ import annotations

import argparse
import sys

from asr.commands import (add_backend_argument, add_compute_arguments, add_decode_arguments, add_stream_arguments,
                          add_task_argument, apply_compute_arguments, decode_options, fusion_files, stream_options,
                          warn_if_precision_is_slow)
from asr.inference.options import SegmentOptions

FORMAT_CHOICES = ("txt", "json", "srt", "vtt", "tsv", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders or globs")
    parser.add_argument("--model", required=True, help="model file from `asr export`, or a folder from `asr export --format onnx`")
    parser.add_argument("--output-dir", help="write <name>.<format> files here, mirroring the input folders, "
                                             "instead of printing; inputs that would write the same file keep "
                                             "their extension (x.wav.txt, x.mp3.txt; then x.wav.2.txt, ... in "
                                             "input order), so none is written over")
    parser.add_argument("--format", default="txt", choices=FORMAT_CHOICES, help="output format (default txt)")
    add_decode_arguments(parser)
    add_stream_arguments(parser)
    add_compute_arguments(parser)
    add_backend_argument(parser)
    add_task_argument(parser)
    seg = SegmentOptions()
    parser.add_argument("--max-segment", type=float, default=seg.max_segment_s,
                        help="longest segment in seconds; longer speech is cut at its quietest point "
                             f"(default {seg.max_segment_s:g})")
    parser.add_argument("--no-vad", action="store_true",
                        help="never run the VAD: decode long files in fixed windows instead of at pauses")
    parser.add_argument("--no-word-timestamps", action="store_true", help="skip word times and confidences")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from asr.audio import find_audio_inputs, open_audio
    from asr.errors import UserError
    from asr.inference.coverage import vocabulary_warning
    from asr.inference.formats import FORMATS, OutputNamer, render
    from asr.inference.options import TranscribeOptions
    from asr.inference.transcriber import load_model
    from asr.model.io import model_card

    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.max_segment < 1:
        raise UserError(f"--max-segment must be at least 1 second, got {args.max_segment}")
    if args.format == "all" and not args.output_dir:
        raise UserError("--format all writes several files: add --output-dir DIR")
    inputs, problems = find_audio_inputs(args.paths)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if not inputs:
        raise UserError("no audio to transcribe; pass files, folders or globs that exist")
    files = [i.path for i in inputs]
    namer = OutputNamer(args.output_dir, [(str(i.path), i.relative) for i in inputs]) if args.output_dir else None
    for note in namer.notes if namer else ():  # colliding output names: said once, before the long part
        print(f"note: {note}", file=sys.stderr)
    warn_if_precision_is_slow(args)
    apply_compute_arguments(args)
    model = load_model(args.model, args.device, args.backend, args.compile)
    card = model_card(model.net, model.tokenizer, model.meta)
    opts = TranscribeOptions(
        decode=decode_options(args), batch_size=args.batch_size, **fusion_files(args),
        precision=args.precision, word_timestamps=not args.no_word_timestamps,
        segments=SegmentOptions(max_segment_s=args.max_segment, vad=not args.no_vad), streaming=stream_options(args),
        task=args.task,
    )
    model.task(opts)  # a translation asked of a model that only transcribes: one line, before any audio is read
    formats = FORMATS if args.format == "all" else (args.format,)
    several = len(files) > 1
    failed = len(problems)
    # One bar: files when there are several, else seconds of audio (a long file shows its pace).
    bar = tqdm(total=len(files), unit="file", disable=not several, file=sys.stderr, dynamic_ncols=True)
    seconds = tqdm(unit="s", desc="audio", disable=True if several else None, file=sys.stderr, dynamic_ncols=True,
                   leave=False)  # None: shown on a terminal only
    items = [(str(f), (lambda f=f: open_audio(f))) for f in files]
    for name, result in model.transcribe_sources(items, opts, on_audio=lambda s: seconds.update(round(s, 1))):
        bar.update(1)
        if isinstance(result, UserError):
            failed += 1
            tqdm.write(f"error: {result}", file=sys.stderr)
            continue
        if result.no_speech:
            tqdm.write(f"note: {name}: no speech recognised in {result.duration:g} s of audio; the transcript is "
                       f"empty", file=sys.stderr)
        elif (warning := vocabulary_warning(name, result.fit, card)) is not None:
            tqdm.write(f"warning: {warning}", file=sys.stderr)
        if namer is not None:
            for fmt in formats:
                namer.write(name, fmt, render(result, fmt))
        else:
            _print(name, result, formats[0], several, render)
    bar.close()
    seconds.close()
    if failed:
        print(f"{failed} of {len(files) + len(problems)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def _print(name, result, fmt: str, several: bool, render) -> None:
    if fmt == "txt" and several:
        print(f"{name}\t{result.text}")
    elif fmt == "json":
        import json

        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        if several:
            print(f"==> {name} <==")
        sys.stdout.write(render(result, fmt))
    sys.stdout.flush()
