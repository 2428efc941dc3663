"""Usage:
    asr evaluate --model exp/demo/model.pt --manifest data/tts-digits/tts-digits_cuts_test.jsonl.gz
    asr evaluate --model model.pt --manifest test-clean.jsonl.gz --manifest test-other.jsonl.gz --json wer.json
    asr evaluate --model model.pt --manifest test.jsonl --out-dir exp/decode --name test   # icefall's files
    asr evaluate --model model.pt --manifest test.jsonl --lm lm.pt --lm-weight 0.3 --ngram 3gram.arpa.gz
    asr evaluate --model model.pt --manifest test.jsonl --plain-search      # ESPnet's search, no guards
    asr evaluate --model model.pt --manifest test.jsonl --max-segment 20    # long cuts cut by the VAD
    asr evaluate --model st.pt --manifest data/tts-translation/test_cuts.jsonl.gz   # a translation model: BLEU

A speech-translation model (`asr info` says "task: translate into en") is scored on its translations: BLEU and
chrF (sacrebleu) against the supervisions' translated_text, and the WER of its CTC head's transcripts of the source
(asr.inference.translation_eval); `--task transcribe` gives the usual report of those transcripts alone.

The manifest is lhotse cuts or NeMo JSON lines (relative audio paths resolve against the manifest's folder);
each --manifest is a test set. The scoring protocol (asr.inference.evaluation): every cut is decoded whole,
however long, unless --max-segment S cuts those over S seconds where Silero VAD hears pauses, as `asr
transcribe` does; a cut that can't be decoded counts as all its reference words deleted, and is named.

Prints a header naming the settings (search, beam, weights, fused models, the guards or --plain-search,
segmenting), sclite's columns (Snt Wrd Corr Sub Del Ins Err S.Err) per test set and per speaker, the cuts not
decoded, the top confusions and the WER/CER/SER/RTF line. --json writes the summary (fractions, not
percentages: wer, cer, ser, utterances, words, rtf, ...; sclite's rows; confusions; not_decoded; under
settings every scorer's weight and file); --out-dir writes icefall's recogs-NAME.txt, errs-NAME.txt
(the summary, per-utterance alignments, every confusion) and wer-summary-NAME.txt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr.commands import (add_backend_argument, add_compute_arguments, add_decode_arguments, add_stream_arguments,
                          add_task_argument, apply_compute_arguments, decode_options, fusion_files, stream_options,
                          warn_if_precision_is_slow)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file from `asr export`, or a folder from `asr export --format onnx`")
    parser.add_argument("--manifest", required=True, action="append",
                        help="lhotse cuts or NeMo JSON-lines manifest: a test set (repeat to score several together)")
    parser.add_argument("--json", help="write the summary as JSON here")
    parser.add_argument("--out-dir", help="write icefall-style recogs/errs/wer-summary files here")
    parser.add_argument("--name", default=None, help="suffix of the report files (default: the manifest's name)")
    parser.add_argument("--max-segment", type=float, default=None, metavar="S",
                        help="cut a cut longer than S seconds where Silero VAD hears pauses, into segments of at "
                             "most S, as `asr transcribe` does (default: every cut decoded whole, however long)")
    add_decode_arguments(parser, batch_help="utterances decoded together")
    add_stream_arguments(parser)
    add_compute_arguments(parser)
    add_backend_argument(parser)
    add_task_argument(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from asr.errors import UserError
    from asr.inference.evaluation import evaluate
    from asr.inference.options import TranscribeOptions
    from asr.inference.report import Settings, report_text, summary, write_reports
    from asr.inference.transcriber import load_model
    from asr.tokenizer import unknown_words_warning

    if args.max_segment is not None and args.max_segment < 1:
        raise UserError(f"--max-segment must be at least 1 second, got {args.max_segment:g}")
    warn_if_precision_is_slow(args)
    apply_compute_arguments(args)
    sets = load_test_sets(args.manifest)
    model = load_model(args.model, args.device, args.backend, args.compile)
    opts = TranscribeOptions(decode=decode_options(args), batch_size=args.batch_size, word_timestamps=False,
                             precision=args.precision, streaming=stream_options(args), task=args.task,
                             **fusion_files(args))
    if model.task(opts) == "translate":
        return _run_translation(args, model, sets, opts)
    fusion = model.fusion(opts)  # loaded before the clock starts: the RTF is the search's, not file reading
    settings = Settings.of(opts.decode, fusion, args.max_segment, args.precision, opts.streaming)
    total = round(sum(c.duration for cuts in sets.values() for c in cuts), 1)
    with tqdm(total=total, unit="s", desc="audio", file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
        ev = evaluate(model, sets, opts, on_audio=lambda s: bar.update(round(s, 1)),
                      on_error=lambda m: tqdm.write(f"error: {m}", file=sys.stderr), max_segment_s=args.max_segment)
    if msg := unknown_words_warning(model.tokenizer, ev.refs):
        print(msg, file=sys.stderr)
    sys.stdout.write(report_text(ev, settings))
    if args.out_dir:
        for path in write_reports(ev, args.out_dir, args.name or next(iter(sets)), settings.tag()):
            print(f"wrote {path}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        extra = {"model": args.model, "manifests": args.manifest, "device": args.device}
        Path(args.json).write_text(json.dumps(summary(ev, settings, extra), indent=2) + "\n")
        print(f"wrote {args.json}")
    if ev.failures:
        print(f"{len(ev.failures)} of {len(ev.utterances)} utterances could not be decoded; they are scored as all "
              f"their reference words deleted", file=sys.stderr)
        return 1
    return 0


def _run_translation(args: argparse.Namespace, model, sets: dict, opts) -> int:
    """`asr evaluate` of a translation model: BLEU, chrF, and the CTC transcript's WER."""
    import json

    from tqdm import tqdm

    from asr.inference.report import Settings, write_reports
    from asr.inference.translation_eval import evaluate_translation, translation_report, translation_summary

    settings = Settings.of(opts.decode.for_task("translate"), model.fusion(opts), args.max_segment, args.precision)
    total = round(sum(c.duration for cuts in sets.values() for c in cuts), 1)
    with tqdm(total=total, unit="s", desc="audio", file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
        ev = evaluate_translation(model, sets, opts, on_audio=lambda s: bar.update(round(s, 1)),
                                  on_error=lambda m: tqdm.write(f"error: {m}", file=sys.stderr),
                                  max_segment_s=args.max_segment)
    sys.stdout.write(translation_report(ev, "\n".join(settings.header())))
    if args.out_dir:  # icefall's files, of the translations
        for path in write_reports(ev.translation, args.out_dir, args.name or next(iter(sets)), settings.tag()):
            print(f"wrote {path}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        extra = {"model": args.model, "manifests": args.manifest, "device": args.device,
                 "settings": settings.header()}
        Path(args.json).write_text(json.dumps(translation_summary(ev, extra), indent=2) + "\n")
        print(f"wrote {args.json}")
    if ev.translation.failures:
        print(f"{len(ev.translation.failures)} of {len(ev.translation.utterances)} utterances could not be decoded; "
              "they are scored as empty translations", file=sys.stderr)
        return 1
    return 0


def load_test_sets(manifests: list[str]) -> dict:
    """Each manifest's cuts, by the manifest's name (test-clean_cuts.jsonl.gz -> test-clean_cuts; a second
    manifest of the same name gets -2)."""
    from asr.data.manifests import load_cuts

    sets = {}
    for m in manifests:
        name = stem = Path(m).name.split(".")[0]
        n = 1
        while name in sets:
            n += 1
            name = f"{stem}-{n}"
        sets[name] = load_cuts(m)
    return sets
