"""model.stream(): PCM pieces of any size give the same text; chunk by chunk it computes what the whole utterance
computes under the same chunk mask; with full context its final text is the offline decoding's."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

import asr
from asr.decoding.endpoint import EndpointRule
from asr.decoding.options import DecodeOptions
from asr.decoding.recognition import recognise, recognise_encoded
from asr.errors import UserError
from asr.inference.transcriber import Transcriber
from asr.model import ASRModel, ModelConfig
from asr.tokenizer import train_tokenizer

NEVER = EndpointRule(1e9, 1e9, 1e9)  # no endpoint before the end of input
SR = 16_000


def _random_streamer() -> Transcriber:
    torch.manual_seed(0)
    tok = train_tokenizer(["abc def", "ghi"], "char")
    cfg = ModelConfig(vocab_size=tok.vocab_size, d_model=32, heads=4, enc_layers=2, dec_layers=1, ffn=64,
                      subsampling_channels=8, conv_module=True, conv_kernel=5, causal=True, dynamic_chunk=True)
    return Transcriber(ASRModel(cfg), tok, {}, "random")


def _audio(seconds: float = 2.3) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * SR)) / SR
    return (0.1 * np.sin(2 * np.pi * 300 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(len(t))
            ).astype(np.float32)


def _feed(stream, wave: np.ndarray, piece_s: float) -> list:
    n = max(1, round(piece_s * SR))
    events = [e for i in range(0, len(wave), n) for e in stream.accept(wave[i : i + n])]
    return events + stream.finish()


def _finals(events) -> list[str]:
    return [e.text for e in events if e.final]


@pytest.mark.parametrize("chunk_ms", [40, 160, 640])
def test_stream_states_equal_the_masked_whole(chunk_ms: float) -> None:
    """Fed in 10 ms pieces, the stream's encoder states are the whole utterance's under its chunk mask: the
    log-mel frames, the chunk windows and the caches line up exactly."""
    model = _random_streamer()
    wave = _audio()
    stream = model.stream(chunk_ms, endpoint=NEVER)
    for i in range(0, len(wave), 160):
        stream.accept(wave[i : i + 160])
    got = torch.cat(stream.enc, dim=1)  # (1, T'_so_far, D): every complete chunk
    chunk = stream.chunk
    with torch.no_grad():
        whole, _, _ = model.net.encode(torch.from_numpy(wave)[None], torch.tensor([len(wave)]), chunk=chunk)
    assert got.shape[1] >= whole.shape[1] - chunk
    torch.testing.assert_close(got[0], whole[0, : got.shape[1]], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("final", ["search", "rescore"])
def test_pieces_of_any_size_give_the_same_text(final: str) -> None:
    """Every event, partials included, is the same whatever size the pieces come in."""
    model = _random_streamer()
    wave = _audio(3.1)
    runs = [[(e.final, e.text) for e in _feed(model.stream(160, final=final), wave, s)]
            for s in (0.01, 0.1, 1.0, 0.0371)]
    assert all(r == runs[0] for r in runs)
    assert any(text for final, text in runs[0] if not final)  # the random model says something: the test has teeth


def test_full_context_final_is_the_offline_decoding(digits_model) -> None:
    """chunk_ms 0 (full context): the final text is, token for token, what the offline search decodes from the
    same samples; and a model that can't run chunk by chunk says so instead of streaming wrongly."""
    path, heldout = digits_model
    model = asr.load_model(path)
    assert not model.can_stream
    with pytest.raises(UserError, match="chunk_ms 0"):
        model.stream(640)
    for wav, _ in heldout[:6]:
        wave, _ = sf.read(wav, dtype="float32")
        stream = model.stream(0, endpoint=NEVER, beam=4)
        finals = [e for e in _feed(stream, wave, 0.1) if e.final]
        rec = recognise(model.net, torch.from_numpy(wave)[None], torch.tensor([len(wave)]), DecodeOptions(beam=4),
                        model.tokenizer)
        assert [e.text for e in finals] == ([rec.texts[0]] if rec.texts[0] else [])


def test_streaming_model_chunk_by_chunk(streaming_digits_model) -> None:
    """The digit model trained with dynamic chunks: 10 ms, 100 ms and 1 s pieces give the same finals (with either
    final pass); partials come before the end; 640 ms chunks are nearly as right as offline; the words have times
    inside the audio."""
    path, heldout = streaming_digits_model
    model = asr.load_model(path)
    assert model.can_stream
    right = {"offline": 0, "chunked": 0}
    for k, (wav, ref) in enumerate(heldout[:12]):
        wave, _ = sf.read(wav, dtype="float32")
        runs = [_feed(model.stream(640), wave, s) for s in ((0.01, 0.1, 1.0) if k < 3 else (0.1,))]
        if k < 3:  # WeNet's attention rescoring of the n-best: the same in any pieces too
            rescored = [_feed(model.stream(640, final="rescore"), wave, s) for s in (0.01, 1.0)]
            assert _finals(rescored[0]) == _finals(rescored[1])
            # the final is the offline search over the states the whole utterance has under the same chunk mask
            stream = model.stream(640, endpoint=NEVER)
            whole = [_feed(stream, wave, 0.1)[-1].text]
            with torch.no_grad():
                enc, lens, _ = model.net.encode(torch.from_numpy(wave)[None], torch.tensor([len(wave)]),
                                                chunk=stream.chunk)
            assert whole == recognise_encoded(model.net, enc, lens, DecodeOptions(), model.tokenizer).texts
        assert all(_finals(r) == _finals(runs[0]) for r in runs)
        if k < 3:
            assert any(not e.final for e in runs[1])  # partial text while the audio still comes
        final = [e for e in runs[0] if e.final]
        right["chunked"] += " ".join(e.text for e in final) == ref
        right["offline"] += model.transcribe(wave, SR, vad=False).text == ref
        for e in final:
            assert all(0 <= w.start <= w.end <= len(wave) / SR + 0.05 for w in e.words)
            assert " ".join(w.word for w in e.words) == e.text
    assert right["offline"] >= 8, right
    assert right["chunked"] >= right["offline"] - 2, right


def test_cli_streaming_transcribe_and_evaluate_agree(streaming_digits_model, tmp_path) -> None:
    path, heldout = streaming_digits_model
    items = heldout[:5]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": str(w), "text": t, "duration": sf.info(w).duration})
                                + "\n" for w, t in items))
    cmd = [sys.executable, "-m", "asr.cli"]
    out = subprocess.run(cmd + ["transcribe", "--model", str(path), "--streaming", "--chunk-ms", "320",
                                "--format", "json", *[str(w) for w, _ in items]], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ev = subprocess.run(cmd + ["evaluate", "--model", str(path), "--manifest", str(manifest), "--streaming",
                               "--chunk-ms", "320", "--out-dir", str(tmp_path / "dec"), "--name", "t"],
                        capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert "streamed in chunks of 320 ms" in ev.stdout
    texts = [json.loads(line)["text"] for line in out.stdout.splitlines() if line.startswith("{")]
    hyps = [line.split("hyp=", 1)[1] for line in (tmp_path / "dec" / "recogs-t.txt").read_text().splitlines()
            if "\thyp=" in line]
    assert len(texts) == len(items) == len(hyps)
    assert [str(t.split()) for t in texts] == hyps  # the same stream, file for file
