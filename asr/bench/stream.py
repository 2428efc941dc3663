"""`asr bench stream`: the latency and real-time factor of `model.stream()` on a test set, on a simulated clock.

Each utterance arrives as it would live: a piece of one chunk every chunk's duration (for full context, 640 ms
pieces). The stream runs each piece when it has arrived and the previous one is done (one stream on --threads
CPU threads, each piece's compute time measured), so an event is ready at
max(its piece's arrival, the end of the previous piece's work) + its own compute. Reported per chunk size:

- first_partial_ms: the first non-empty partial's readiness minus the end of the first word it holds (the word's
  end from the final's word times): how long after a word was said it was on screen;
- final_ms: the last final's readiness minus the end of input (the client's "end": the speaker stopped);
- final_after_speech_ms: the same minus the end of the last word (what a listener waits after the last word);
- rtf: compute seconds / audio seconds. Medians and 90th percentiles over the utterances.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from asr.errors import UserError


def run(args: argparse.Namespace) -> list[dict]:
    import torch

    from asr.data.manifests import load_cuts
    from asr.inference.transcriber import load_model

    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    cuts = list(load_cuts(args.manifest))[: args.limit or None]
    if not cuts:
        raise UserError(f"{args.manifest}: no cuts")
    waves = [c.load_audio()[0].astype(np.float32) for c in cuts]
    records = []
    for chunk_ms in [float(c) for c in args.chunk_ms.split(",")]:
        from tqdm import tqdm

        rows = [simulate(model, w, chunk_ms, args.beam)
                for w in tqdm(waves, desc=f"chunk {chunk_ms:g} ms", unit="utt", disable=None, dynamic_ncols=True)]
        audio = sum(len(w) for w in waves) / model.sample_rate
        rec = {"bench": "stream", "model": args.model, "manifest": args.manifest, "utterances": len(rows),
               "chunk_ms": chunk_ms, "beam": args.beam, "threads": args.threads, "audio_s": round(audio, 2),
               "rtf": round(sum(r["compute_s"] for r in rows) / audio, 4)}
        for key in ("first_partial_ms", "final_ms", "final_after_speech_ms"):
            vals = [r[key] for r in rows if r[key] is not None]
            rec[f"{key}_median"] = round(float(np.median(vals)), 1) if vals else None
            rec[f"{key}_p90"] = round(float(np.percentile(vals, 90)), 1) if vals else None
        records.append(rec)
    return records


def simulate(model, wave: np.ndarray, chunk_ms: float, beam: int) -> dict:
    """One utterance on the simulated clock -> compute_s and the three latencies (None where nothing was said)."""
    sr = model.sample_rate
    stream = model.stream(chunk_ms, beam=beam)
    piece = round((chunk_ms or 640) / 1000 * sr)
    busy = compute = 0.0
    first_partial, finals = None, []  # (ready time, event)
    for i in range(0, len(wave) + 1, piece):
        last = i + piece >= len(wave)
        arrival = min(i + piece, len(wave)) / sr
        t0 = time.perf_counter()
        events = stream.accept(wave[i : i + piece])
        if last:
            events += stream.finish()
        spent = time.perf_counter() - t0
        compute += spent
        busy = max(busy, arrival) + spent
        for e in events:
            if e.final:
                finals.append((busy, e))
            elif first_partial is None and e.text:
                first_partial = (busy, e)
        if last:
            break
    end = len(wave) / sr
    words = [w for _, e in finals for w in e.words]
    result = {"compute_s": compute, "first_partial_ms": None, "final_ms": None, "final_after_speech_ms": None}
    if finals and words:
        ready = finals[-1][0]
        result["final_ms"] = 1000 * (ready - end)
        result["final_after_speech_ms"] = 1000 * (ready - words[-1].end)
        if first_partial is not None:
            result["first_partial_ms"] = 1000 * (first_partial[0] - words[0].end)
    return result
