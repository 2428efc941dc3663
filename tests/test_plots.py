"""Attention pictures: the weights drawn are real attention (rows sum to one, the alignment moves forward in
time), the CLI writes a readable PNG, and the training callback draws one per validation epoch."""

from types import SimpleNamespace

import matplotlib.image as mpimg
import numpy as np
import soundfile as sf

import asr
from asr.callbacks import AttentionPlot
from asr.cli import main
from asr.plots import attention_maps
from trained_model import recognised


def test_cross_attention_moves_forward_through_the_audio(digits_model):
    path, heldout = digits_model
    model = asr.load_model(path)
    wav, text = max(recognised(path, heldout), key=lambda h: len(h[1].split()))  # the longest: clearest alignment
    audio, _ = sf.read(wav, dtype="float32")
    maps = attention_maps(model.net, model.tokenizer, audio)
    cfg = model.net.cfg
    U = len(text.split()) + 1  # + <eos>
    assert maps.labels == text.split() + ["<eos>"]
    assert len(maps.cross) == cfg.dec_layers and len(maps.self_attn) == cfg.enc_layers
    T_enc = maps.self_attn[0].shape[-1]
    for c in maps.cross:
        assert c.shape == (cfg.heads, U, T_enc)
        np.testing.assert_allclose(c.sum(axis=-1), 1.0, atol=1e-4)
    for a in maps.self_attn:
        assert a.shape == (cfg.heads, T_enc, T_enc)
    # Where each word looks (attention-weighted mean time, averaged over layers and heads) increases with the word.
    avg = np.mean([c.mean(axis=0) for c in maps.cross], axis=0)[:-1]  # (U - 1, T') without <eos>
    centre = (avg * np.arange(T_enc)).sum(axis=1)
    rank_correlation = np.corrcoef(np.arange(len(centre)), centre.argsort().argsort())[0, 1]  # Spearman's rho
    assert rank_correlation > 0.8, centre


def test_plot_attention_cli_writes_a_png(digits_model, tmp_path, capsys):
    path, heldout = digits_model
    out = tmp_path / "att.png"
    assert main(["plot-attention", "--model", str(path), str(heldout[0][0]), "--out", str(out)]) == 0
    image = mpimg.imread(out)
    h, w = image.shape[:2]
    assert w >= 1000 and h >= 800  # spectrogram + mean + per-layer/head + encoder panels
    assert image[..., :3].std() > 0.1  # not a blank canvas
    assert main(["plot-attention", "--model", str(path), str(tmp_path / "nope.wav"), "--out", str(out)]) == 2
    assert "nope.wav" in capsys.readouterr().err


def test_callback_draws_the_reference_alignment_each_epoch(digits_model, tmp_path):
    path, heldout = digits_model
    model = asr.load_model(path)
    wav, text = heldout[5]
    cb = AttentionPlot(audio=str(wav), text=text, out_dir=str(tmp_path / "att"))
    module = SimpleNamespace(net=model.net, tokenizer=model.tokenizer)
    for epoch in range(2):
        trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True, current_epoch=epoch,
                                  global_step=10 * epoch, logger=None, log_dir=str(tmp_path),
                                  default_root_dir=str(tmp_path))
        cb.on_validation_epoch_end(trainer, module)
    assert [p.name for p in cb.written] == ["epoch=000.png", "epoch=001.png"]
    assert all(p.stat().st_size > 20_000 for p in cb.written)
    assert model.net.training is False  # drawing leaves the module in the mode it found it
