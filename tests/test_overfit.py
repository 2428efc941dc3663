"""The model can learn: it overfits a small batch of synthesised speech to its exact transcripts."""

import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from asr.decoding import DecodeOptions, ctc_greedy, greedy_search
from asr.features import LogMel, StatsAccumulator
from asr.model import ASRModel, ModelConfig, pad_targets
from asr.tokenizer import train_tokenizer

TEXTS = ["seven three", "one oh nine", "four", "two eight five six"]


def _speak(text: str, path) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "-w", str(path), text], check=True)
    audio, sr = sf.read(path, dtype="float32")
    return soxr.resample(audio, sr, 16000)


@pytest.mark.timeout(300)
def test_overfits_a_batch_of_synthesised_speech(tmp_path):
    torch.manual_seed(0)
    waves = [torch.from_numpy(_speak(t, tmp_path / f"{i}.wav")) for i, t in enumerate(TEXTS)]
    lens = torch.tensor([len(w) for w in waves])
    wave = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)  # (B, S)
    tok = train_tokenizer(TEXTS, "char")
    cfg = ModelConfig(
        vocab_size=tok.vocab_size, d_model=64, heads=4, enc_layers=2, dec_layers=1, ffn=256, dropout=0.0,
        subsampling=4, subsampling_channels=32, conv_module=True,
    )
    cfg.frontend.freq_masks = cfg.frontend.time_masks = 0  # memorise, don't regularise
    model = ASRModel(cfg)
    stats = StatsAccumulator(80)
    stats.update(*LogMel(cfg.frontend)(wave, lens))
    model.cmvn.set_stats(*stats.result())
    targets, tlens = pad_targets([tok.encode(t) for t in TEXTS])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(200):
        loss = model(wave, lens, targets, tlens).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 19 and _decodes(model, tok, wave, lens):
            print("decoded exactly after", step + 1, "steps")
            break
    assert _decodes(model, tok, wave, lens), f"loss {loss.item():.3f}"


def _decodes(model, tok, wave, lens) -> bool:
    model.eval()
    with torch.no_grad():
        enc, enc_lens, _ = model.encode(wave, lens)
        att = [tok.decode(h) for h in greedy_search(model, enc, enc_lens, DecodeOptions())]
        ctc = [tok.decode(h) for h in ctc_greedy(model.ctc_log_probs(enc), enc_lens)]
    model.train()
    return att == TEXTS and ctc == TEXTS
