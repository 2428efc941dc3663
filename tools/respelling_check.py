"""Does each accented voice's respelled digit sound like the English digit? Ask a trained model.

Usage:
    python tools/respelling_check.py --model exp/demo/model.pt [--rates 0.9 1.0 1.15] [--out /tmp/respell]

Renders every digit word (and "oh") with every accented festival voice (asr/corpora/tts_accents.py) at each
rate, transcribes each file with the model (joint CTC/attention, CTC weight 0.5), and prints per voice how many
came back as the word they stand for, and what the others were heard as. A model that never heard these voices
is a rough judge: a word every voice gets wrong points at its respelling, one voice's misses at that voice.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.corpora import summary, tts_synth  # noqa: E402
from asr.corpora.tts_digits import VOCABULARY  # noqa: E402
from asr.corpora.tts_voices import available_voices  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="an exported model (asr export)")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.9, 1.0, 1.15], help="speaking rates to render")
    parser.add_argument("--out", type=Path, default=Path("/tmp/respelling-check"), help="where the WAVs go")
    args = parser.parse_args(argv)

    from lhotse import CutSet

    from asr.decoding.options import DecodeOptions
    from asr.inference.evaluation import evaluate
    from asr.inference.options import TranscribeOptions
    from asr.inference.transcriber import load_model

    # The accented voices, and as a yardstick the held-out English person (flite rms) the model never heard.
    voices = [v for v in available_voices(VOCABULARY) if v.language != "english" or v.id == "flite/rms"]
    if len(voices) < 2:
        print("no accented festival voice installed (tools/install_system_deps.sh installs them)", file=sys.stderr)
        return 1
    utts = [tts_synth.Utterance(f"{v.name}-{w}-{i}", "check", w, v, rate, 1.0, 0.9)
            for v in voices for w in sorted(VOCABULARY) for i, rate in enumerate(args.rates)]
    samples = tts_synth.synthesise(utts, args.out, jobs=2)
    cuts = CutSet.from_cuts(
        summary.utterance_cut(summary.file_recording(u.id, tts_synth.wav_path(args.out, u), 16_000, samples[u.id]),
                              u.text, u.voice.id, {}) for u in utts if u.id in samples)
    model = load_model(args.model)
    ev = evaluate(model, cuts, TranscribeOptions(decode=DecodeOptions(ctc_weight=0.5), word_timestamps=False))
    by_voice: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for cut_id, ref, hyp in zip(ev.ids, ev.refs, ev.hyps):
        by_voice[cut_id.rsplit("-", 2)[0]].append((ref, hyp))
    by_word: dict[str, int] = defaultdict(int)
    for name, pairs in by_voice.items():
        wrong = [f"{r}->{h or '(none)'}" for r, h in pairs if r != h]
        for r, h in pairs:
            by_word[r] += r == h
        print(f"{name:22s} {len(pairs) - len(wrong):3d}/{len(pairs)} right  {' '.join(wrong)}")
    total = len(by_voice) * len(args.rates)
    print("per word: " + "  ".join(f"{w} {n}/{total}" for w, n in sorted(by_word.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
