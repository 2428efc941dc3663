"""Attention pictures: the weights drawn are real attention (rows sum to one, the alignment moves forward in
time), the CLI writes a readable PNG, and the training callback draws one per validation epoch."""

from types import SimpleNamespace

import matplotlib.image as mpimg
import numpy as np
import soundfile as sf

import asr
from asr.training.callbacks import AttentionPlot
from asr.audio import open_audio
from asr.cli import main
from asr.inference.options import TranscribeOptions
from asr.plots import attention_maps
from trained_model import recognised


def test_cross_attention_moves_forward_through_the_audio(digits_model):
    path, heldout = digits_model
    model = asr.load_model(path)
    wav, text = max(recognised(path, heldout), key=lambda h: len(h[1].split()))  # the longest: clearest alignment
    maps = model.attention_maps(str(wav), lambda: open_audio(wav), TranscribeOptions())
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


def test_callback_in_a_real_training_run(tmp_path):
    """Lightning calls it after each validation epoch (not the sanity check), with the datamodule's first cut."""
    import lightning as L

    from asr.data.datamodule import ASRDataModule
    from asr.training.task import ASRTask, TaskConfig, TokenizerConfig
    from asr.model import ModelConfig
    from asr.training.prepare import prepare_run
    from asr.training.schedules import OptimConfig
    from training_fixtures import noise_corpus

    manifest = noise_corpus(tmp_path / "data", n=8)
    L.seed_everything(0)
    task = ASRTask(ModelConfig(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling=4,
                               subsampling_channels=8), OptimConfig(lr=1e-3, warmup_steps=2),
                   TokenizerConfig("char"), TaskConfig(cmvn_utterances=4))
    dm = ASRDataModule(train_manifests=str(manifest), valid_manifests=str(manifest), max_duration=4.0,
                       num_buckets=2, num_workers=0, seed=0)
    cb = AttentionPlot(out_dir=str(tmp_path / "att"))
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=2, limit_train_batches=2, limit_val_batches=1,
                        num_sanity_val_steps=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, callbacks=[cb], use_distributed_sampler=False,
                        default_root_dir=tmp_path)
    prepare_run(trainer, task, dm)
    trainer.fit(task, datamodule=dm)
    assert [p.name for p in cb.written] == ["epoch=000.png", "epoch=001.png"]
    first = min(dm.cuts("valid"), key=lambda c: c.id)
    assert cb.text == first.supervisions[0].text


def test_unknown_forced_words_are_named_in_row_labels_for_every_tokenizer_kind():
    from asr.plots import token_labels
    from asr.tokenizer import train_tokenizer, unknown_words

    corpus = ["one two three", "four five six seven eight nine zero"] * 20
    text = "two Weather nice, three"
    for kind in ("word", "char", "bpe"):
        tok = train_tokenizer(corpus, kind, vocab_size=30)
        labels = token_labels(tok, tok.encode(text), text)
        assert {x for x in labels if x.startswith("<unk>")} == {"<unk> (weather)", "<unk> (nice)"}, (kind, labels)
        assert unknown_words(tok, text) == ["weather", "nice"]
        assert unknown_words(tok, "two three") == []
    word = train_tokenizer(corpus, "word")
    assert token_labels(word, word.encode("two three"), "two three") == ["two", "three"]


def test_plot_attention_warns_once_about_unknown_words_in_text(digits_model, tmp_path, capsys):
    path, heldout = digits_model
    out = tmp_path / "forced.png"
    args = ["plot-attention", "--model", str(path), str(heldout[0][0]), "--out", str(out)]
    assert main(args + ["--text", "two weather nine nice weather"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [("warning: --text has 2 word(s) outside the model's vocabulary: 'weather', 'nice'; the decoder "
                    "is forced on <unk> for them (rows '<unk> (word)')")]
    audio, _ = sf.read(heldout[0][0], dtype="float32")
    model = asr.load_model(path)
    text = "two weather nine"
    maps = attention_maps(model.net, model.tokenizer, audio, model.tokenizer.encode(text), text)
    assert maps.labels == ["two", "<unk> (weather)", "nine", "<eos>"]
