"""Usage:
    .venv/bin/python tools/attention_crossings.py --model exp/tts-translation/model.pt \
        --manifest data/tts-translation/test_cuts.jsonl.gz [--limit 300] [--seed 0] [--json out.json]

Does a speech-translation model's cross-attention follow the reordering (issue 31)? For each utterance of an
`asr prepare tts-translation` test set the decoder is teacher-forced on the reference translation, and each
English word's attention peak (the mean of every layer and head over its tokens' rows, as `asr plot-attention`
draws it) is placed in time; each spoken German word's span is the CTC head's transcript aligned (the words along
the top of the picture). A link of the grammar's alignment (German word i translates English word j) is
*followed* when word j's peak lies within word i's span (half an encoder frame of slack on each side). Links that
cross another link are the reordered ones: a reader that moves through the audio in order gets them wrong, and
the diagonal baseline (English word j placed at j/len of the audio) is printed beside the model for that reason.

Only utterances whose CTC transcript has as many words as the reference German sentence are scored (word i of
the alignment must be word i of the transcript); the count left out is printed. The pairs, with their
alignments, are drawn again from the grammar with the corpus's seed (`tts_translation.find_pairs`).
Prints one JSON line and the shortest fully followed crossing sentence, with the command that draws it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np


def word_rows(tokenizer, text: str) -> list[range]:
    """The token rows of each word of `text` as the decoder is forced on it (prefix encodings, any tokenizer)."""
    words = text.split()
    ends = [len(tokenizer.encode(" ".join(words[: i + 1]))) for i in range(len(words))]
    return [range(a, b) for a, b in zip([0] + ends[:-1], ends)]


def crossing_links(links: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The links (German word, English word) that cross at least one other link."""
    out: set[tuple[int, int]] = set()
    for x, y in itertools.combinations(links, 2):
        if (x[0] - y[0]) * (x[1] - y[1]) < 0:
            out |= {x, y}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0, help="the seed the corpus was prepared with")
    parser.add_argument("--json", help="also write the summary here")
    args = parser.parse_args()

    from lhotse import CutSet
    from tqdm import tqdm

    from asr.audio import ArraySource
    from asr.corpora.tts_translation import find_pairs
    from asr.inference.options import TranscribeOptions
    from asr.inference.transcriber import load_model

    model = load_model(args.model)
    cuts = list(CutSet.from_file(args.manifest).subset(first=args.limit))
    pairs = find_pairs({c.supervisions[0].text for c in cuts}, args.seed)
    counts = {"utterances": 0, "skipped_transcript_length": 0, "links": 0, "followed": 0, "crossing": 0,
              "crossing_followed": 0, "crossing_diagonal": 0, "missing_pair": 0}
    best: tuple[float, str, str] | None = None
    for cut in tqdm(cuts, file=sys.stderr):
        pair = pairs.get(cut.supervisions[0].text)
        if pair is None:
            counts["missing_pair"] += 1
            continue
        audio = cut.load_audio()
        maps = model.attention_maps(cut.id, lambda a=audio, r=cut.sampling_rate: ArraySource(a, r),
                                    TranscribeOptions(), text=pair.en)
        spoken = maps.source_words
        if len(spoken) != len(pair.de.split()):
            counts["skipped_transcript_length"] += 1
            continue
        avg = np.mean([c.mean(axis=0) for c in maps.cross], axis=0)  # (U + 1, T')
        peaks = [maps.clock.centre(int(avg[list(rows)].sum(axis=0).argmax())) for rows in word_rows(model.tokenizer,
                                                                                                     pair.en)]
        slack = maps.clock.frame_s / 2
        duration = cut.duration
        n_en = len(pair.en.split())
        crossing = crossing_links(list(pair.alignment))
        followed_all = bool(crossing)
        for i, j in pair.alignment:
            _, start, end = spoken[i]
            ok = start - slack <= peaks[j] <= end + slack
            counts["links"] += 1
            counts["followed"] += ok
            if (i, j) in crossing:
                counts["crossing"] += 1
                counts["crossing_followed"] += ok
                counts["crossing_diagonal"] += start - slack <= (j + 0.5) / n_en * duration <= end + slack
                followed_all &= ok
        counts["utterances"] += 1
        if followed_all and (best is None or duration < best[0]):
            best = (duration, cut.id, cut.recording.sources[0].source)
    summary = {**counts,
               "followed_share": round(counts["followed"] / max(counts["links"], 1), 4),
               "crossing_followed_share": round(counts["crossing_followed"] / max(counts["crossing"], 1), 4),
               "crossing_diagonal_share": round(counts["crossing_diagonal"] / max(counts["crossing"], 1), 4),
               "model": args.model, "manifest": args.manifest}
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    if best is not None:
        print(f"shortest sentence whose crossing links are all followed: {best[1]} ({best[0]:.2f} s)\n"
              f"  asr plot-attention --model {args.model} {best[2]} --out attention-translation.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
