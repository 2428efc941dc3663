"""Usage:
    asr evaluate --model exp/demo/model.pt --manifest data/tts-digits/tts-digits_cuts_test.jsonl.gz
    asr evaluate --model model.pt --manifest test.jsonl --json exp/test-wer.json --out-dir exp/decode --name test
    asr evaluate --model model.pt --manifest test.jsonl --lm lm.pt --lm-weight 0.3 --ngram 3gram.arpa.gz

The manifest is lhotse cuts or NeMo JSON lines (relative audio paths resolve against the manifest's folder).
Prints WER, CER, SER, error counts and the real-time factor; --json writes the summary (fractions, not
percentages: wer, cer, ser, utterances, words, rtf, ..., and under settings.scorers every scorer's weight and
file); --out-dir writes icefall's recogs-NAME.txt,
errs-NAME.txt (per-utterance alignments, most frequent confusions) and wer-summary-NAME.txt.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asr.commands import (add_compute_arguments, add_decode_arguments, apply_compute_arguments, decode_options,
                          fusion_files, warn_if_precision_is_slow)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file from `asr export`")
    parser.add_argument("--manifest", required=True, action="append",
                        help="lhotse cuts or NeMo JSON-lines manifest (repeat to score several together)")
    parser.add_argument("--json", help="write the summary as JSON here")
    parser.add_argument("--out-dir", help="write icefall-style recogs/errs/wer-summary files here")
    parser.add_argument("--name", default=None, help="suffix of the report files (default: the manifest's name)")
    add_decode_arguments(parser, batch_help="utterances decoded together")
    add_compute_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from asr.data.manifests import load_cuts
    from asr.inference.evaluation import evaluate, write_reports
    from asr.inference.options import TranscribeOptions
    from asr.inference.transcriber import load_model
    from asr.tokenizer import unknown_words_warning

    warn_if_precision_is_slow(args)
    apply_compute_arguments(args)
    cuts = load_cuts(args.manifest)
    model = load_model(args.model, args.device)
    opts = TranscribeOptions(decode=decode_options(args), batch_size=args.batch_size, word_timestamps=False,
                             precision=args.precision, **fusion_files(args))
    fusion = model.fusion(opts)  # loaded before the clock starts: the RTF is the search's, not file reading
    total = round(sum(c.duration for c in cuts), 1)
    with tqdm(total=total, unit="s", desc="audio", file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
        ev = evaluate(model, cuts, opts, on_audio=lambda s: bar.update(round(s, 1)),
                      on_error=lambda m: tqdm.write(f"error: {m}", file=sys.stderr))
    if msg := unknown_words_warning(model.tokenizer, ev.refs):
        print(msg, file=sys.stderr)
    r = ev.report
    settings = f"beam_{args.beam}_ctc_{args.ctc_weight:g}" + ("" if args.search == "joint" else f"_{args.search}")
    settings += "_bf16" if args.precision == "bf16" else ""
    scorers = fusion.describe(opts.decode) if fusion else {"weights": {"decoder": 1 - args.ctc_weight,
                                                                       "ctc": args.ctc_weight}, "files": {}}
    for name in ("lm", "ngram"):
        if name in scorers["weights"]:
            settings += f"_{name}_{scorers['weights'][name]:g}"
    settings += f"_lb_{args.length_bonus:g}" if args.length_bonus else ""
    settings += "_hotwords" if args.hotwords else ""
    print(f"WER {100 * r.wer:.2f}% ({r.substitutions + r.deletions + r.insertions}/{r.words} words: "
          f"{r.substitutions} sub, {r.deletions} del, {r.insertions} ins)  CER {100 * r.cer:.2f}%  "
          f"SER {100 * r.ser:.2f}%  RTF {ev.rtf:.4f}  on {r.utterances} utterances ({ev.audio_seconds:.1f} s)")
    name = args.name or Path(args.manifest[0]).name.split(".")[0]
    if args.out_dir:
        for path in write_reports(ev, args.out_dir, name, settings):
            print(f"wrote {path}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        summary = ev.summary({"model": args.model, "manifests": args.manifest, "beam": args.beam,
                              "ctc_weight": args.ctc_weight, "search": args.search, "precision": args.precision,
                              "device": args.device, "scorers": scorers})
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.json}")
    if ev.failures:
        print(f"{len(ev.failures)} of {len(cuts)} utterances could not be decoded and are not scored",
              file=sys.stderr)
        return 1
    return 0
