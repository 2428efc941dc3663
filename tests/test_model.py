"""Invariants of the model core: padding, causality, cache, attention weights, file round trip."""

from dataclasses import replace

import pytest
import torch

from asr.model import ASRModel, pad_targets
from asr.model.attention import MultiHeadAttention, key_padding_mask
from asr.model.io import load_model_file, save_model
from asr.tokenizer import train_tokenizer


def _model(cfg, seed=0):
    torch.manual_seed(seed)
    return ASRModel(cfg).eval()


# The conformer's levers (tests/test_conformer.py for the relative attention itself): each alone and all together.
LEVERS = {
    "transformer": {},
    "rel-pos": {"pos_enc": "rel"},
    "macaron": {"macaron_ffn": True},
    "conformer": {"pos_enc": "rel", "macaron_ffn": True},
}


@pytest.mark.parametrize("lever", LEVERS)
def test_encoder_padding_invariance(tiny_cfg, lever):
    model = _model(replace(tiny_cfg, **LEVERS[lever]))
    torch.manual_seed(1)
    short = torch.randn(1, 9000)
    batch = torch.randn(3, 16000)
    batch[1, :9000] = short[0]
    batch[1, 9000:] = 0.0
    lens = torch.tensor([16000, 9000, 12345])
    with torch.no_grad():
        alone, alone_lens, _ = model.encode(short, torch.tensor([9000]))
        batched, batched_lens, _ = model.encode(batch, lens)
    n = int(alone_lens[0])
    assert int(batched_lens[1]) == n and batched.shape[1] > n
    torch.testing.assert_close(batched[1, :n], alone[0, :n], atol=1e-5, rtol=1e-4)


def test_decoder_padding_invariance(tiny_cfg):
    model = _model(tiny_cfg)
    torch.manual_seed(2)
    mem = torch.randn(2, 20, tiny_cfg.d_model)
    tokens = torch.randint(3, 16, (2, 6))
    with torch.no_grad():
        batched, _ = model.decoder(tokens, mem, torch.tensor([20, 11]))
        alone, _ = model.decoder(tokens[1:], mem[1:, :11], torch.tensor([11]))
    torch.testing.assert_close(batched[1], alone[0], atol=1e-5, rtol=1e-4)


def test_decoder_is_causal(tiny_cfg):
    model = _model(tiny_cfg)
    mem = torch.randn(1, 15, tiny_cfg.d_model)
    a = torch.tensor([[1, 5, 6, 7, 8, 9]])
    b = a.clone()
    b[0, 3:] = torch.tensor([3, 4, 10])  # change tokens after step 2
    with torch.no_grad():
        la, _ = model.decoder(a, mem, torch.tensor([15]))
        lb, _ = model.decoder(b, mem, torch.tensor([15]))
    torch.testing.assert_close(la[0, :3], lb[0, :3])
    assert not torch.allclose(la[0, 3:], lb[0, 3:])


def test_incremental_decoding_with_cache_equals_full(tiny_cfg):
    model = _model(tiny_cfg)
    mem = torch.randn(2, 17, tiny_cfg.d_model)
    mem_lens = torch.tensor([17, 9])
    tokens = torch.tensor([[1, 4, 9, 3, 12, 5], [1, 7, 7, 2, 8, 6]])
    with torch.no_grad():
        full, _ = model.decoder(tokens, mem, mem_lens)
        full = torch.log_softmax(full, -1)
        cache = model.decoder.init_cache(mem, mem_lens)
        steps = []
        for u in range(tokens.shape[1]):
            logp, cache = model.decoder.step(tokens[:, u : u + 1], cache)
            steps.append(logp)
        # several tokens at once after a prefix, as a search warm-started from a prompt would
        cache2 = model.decoder.init_cache(mem, mem_lens)
        _, cache2 = model.decoder.step(tokens[:, :2], cache2)
        logp_multi, _ = model.decoder.step(tokens[:, 2:], cache2)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(logp_multi, full[:, -1], atol=1e-5, rtol=1e-4)


def test_cache_select_reorders_hypotheses(tiny_cfg):
    model = _model(tiny_cfg)
    mem = torch.randn(2, 10, tiny_cfg.d_model)
    cache = model.decoder.init_cache(mem, torch.tensor([10, 10]))
    with torch.no_grad():
        _, cache = model.decoder.step(torch.tensor([[1], [1]]), cache)
        swapped = cache.select(torch.tensor([1, 0]))
        a, _ = model.decoder.step(torch.tensor([[5], [6]]), cache)
        b, _ = model.decoder.step(torch.tensor([[6], [5]]), swapped)
    torch.testing.assert_close(a, b.flip(0))


def test_attention_weights_shape_and_rows():
    torch.manual_seed(0)
    attn = MultiHeadAttention(32, 4).eval()
    x = torch.randn(3, 5, 32)
    src = torch.randn(3, 9, 32)
    lens = torch.tensor([9, 4, 6])
    mask = key_padding_mask(lens, 9)
    out, w, _ = attn(x, source=src, mask=mask, need_weights=True)
    assert w.shape == (3, 4, 5, 9)  # (B, H, U, T)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4, 5))
    for b, n in enumerate(lens.tolist()):
        assert torch.all(w[b, :, :, n:] == 0)
    fast, _, _ = attn(x, source=src, mask=mask)  # the scaled_dot_product_attention path agrees
    torch.testing.assert_close(out, fast, atol=1e-5, rtol=1e-4)


def test_bf16_attention_on_the_cpu_matches_fp32_and_ignores_padding():
    """Under bf16 autocast on the CPU attention takes the explicit path (faster there than the fused kernel):
    same result as fp32 to bf16 precision, padded keys still unseen, gradients reach every projection."""
    torch.manual_seed(0)
    attn = MultiHeadAttention(64, 4)
    x, src = torch.randn(3, 5, 64), torch.randn(3, 9, 64)
    mask = key_padding_mask(torch.tensor([9, 4, 6]), 9)
    ref, _, _ = attn(x, source=src, mask=mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _, _ = attn(x, source=src, mask=mask)
        src2 = src.clone()
        src2[1, 4:] = 100.0  # change only utterance 1's padded frames
        out2, _, _ = attn(x, source=src2, mask=mask)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, atol=3e-2, rtol=3e-2)
    assert torch.equal(out[1], out2[1])
    out.float().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in attn.parameters())


def test_model_returns_attention_for_pictures(tiny_cfg):
    model = _model(tiny_cfg)
    wave, lens = torch.randn(2, 16000), torch.tensor([16000, 8000])
    with torch.no_grad():
        enc, enc_lens, enc_w = model.encode(wave, lens, need_weights=True)
        _, cross = model.decoder(torch.tensor([[1, 4, 5], [1, 6, 7]]), enc, enc_lens, need_weights=True)
    T = enc.shape[1]
    assert len(enc_w) == tiny_cfg.enc_layers and enc_w[0].shape == (2, tiny_cfg.heads, T, T)
    assert len(cross) == tiny_cfg.dec_layers and cross[0].shape == (2, tiny_cfg.heads, 3, T)
    assert torch.all(cross[0][1, :, :, int(enc_lens[1]) :] == 0)


@pytest.mark.parametrize("lever", ["transformer", "conformer"])
def test_loss_is_finite_and_trains(tiny_cfg, lever):
    torch.manual_seed(0)
    model = ASRModel(replace(tiny_cfg, **LEVERS[lever])).train()
    wave, lens = torch.randn(2, 12000), torch.tensor([12000, 9000])
    targets, tlens = pad_targets([[3, 4, 5], [6, 7]])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        losses = model(wave, lens, targets, tlens)
        assert torch.isfinite(losses.loss)
        opt.zero_grad()
        losses.loss.backward()
        opt.step()
        first = first if first is not None else losses.loss.item()
    assert losses.loss.item() < first


@pytest.mark.parametrize("factor", [4, 6, 8])
def test_a_batch_of_only_very_short_utterances_trains(tiny_cfg, factor):
    """0.1 s (8 frames) is below x8's 15-frame receptive field: each utterance still gets one frame and a loss."""
    model = ASRModel(replace(tiny_cfg, subsampling=factor)).train()
    wave, lens = torch.randn(3, 1600), torch.tensor([1600, 1400, 1000])  # 0.10, 0.09, 0.06 s at 16 kHz
    targets, tlens = pad_targets([[3], [4], [5]])
    losses = model(wave, lens, targets, tlens)
    assert torch.isfinite(losses.loss)
    losses.loss.backward()
    enc, enc_lens, _ = model.encode(wave, lens)
    assert enc.shape[1] == 1 and enc_lens.tolist() == [1, 1, 1]


def test_model_file_round_trip(tmp_path, tiny_cfg):
    tok = train_tokenizer(["one two three", "four five"], "char")
    tiny_cfg.vocab_size = tok.vocab_size
    model = _model(tiny_cfg)
    model.cmvn.set_stats(torch.full((80,), 2.0), torch.full((80,), 3.0))
    save_model(tmp_path / "m.pt", model, tok, meta={"note": "test"})
    blob = torch.load(tmp_path / "m.pt", weights_only=True)  # no code is unpickled
    assert blob["format"] == "asr-model/1"
    loaded, tok2, meta = load_model_file(tmp_path / "m.pt")
    assert meta["note"] == "test" and tok2.encode("one") == tok.encode("one")
    assert meta["card"]["vocabulary"]["size"] == tok.vocab_size  # every file carries its card
    wave, lens = torch.randn(1, 8000), torch.tensor([8000])
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(wave, lens)[0], model.encode(wave, lens)[0])
    assert torch.all(loaded.cmvn.mean == 2.0)


def test_cpu_front_end_chunks_give_the_batched_result(tiny_cfg, monkeypatch):
    """The CPU front-end runs a few utterances at a time (cache-friendly); the output must not change."""
    import asr.model.layers as layers

    model = _model(tiny_cfg)
    feats, lens = torch.randn(5, 230, tiny_cfg.frontend.n_mels), torch.tensor([230, 200, 120, 230, 64])
    with torch.no_grad():
        monkeypatch.setattr(layers, "CPU_CHUNK_ELEMENTS", 10**12)  # the whole batch at once
        whole, whole_lens, _ = model.encoder(feats, lens)
        monkeypatch.setattr(layers, "CPU_CHUNK_ELEMENTS", 1)  # one utterance at a time
        chunked, chunked_lens, _ = model.encoder(feats, lens)
    assert torch.equal(whole_lens, chunked_lens)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)


def test_conv_module_channels_last_equals_conv1d_reference():
    """ConvModule runs its Conv1d parameters as channels-last matmuls and Conv2d; the result must be that of
    the plain Conv1d formulation on (B, D, T')."""
    from asr.model.layers import ConvModule

    torch.manual_seed(0)
    m = ConvModule(32, 7, 0.0).eval()
    x, valid = torch.randn(3, 20, 32), torch.arange(20)[None, :] < torch.tensor([[20], [13], [5]])
    with torch.no_grad():
        h = x.masked_fill(~valid[..., None], 0.0).transpose(1, 2)  # (B, D, T')
        h = torch.nn.functional.glu(m.pw1(h), dim=1).masked_fill(~valid[:, None, :], 0.0)
        h = torch.nn.functional.silu(m.norm(m.dw(h).transpose(1, 2))).transpose(1, 2)
        ref = m.pw2(h).transpose(1, 2)  # (B, T', D)
        torch.testing.assert_close(m(x, valid), ref, atol=1e-5, rtol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # depthwise conv kept in fp32 there (see ConvModule)
            low = m(x, valid)
        torch.testing.assert_close(low.float(), ref, atol=5e-2, rtol=5e-2)


def test_log_mel_stays_fp32_under_bf16_autocast():
    """Mixed precision (bf16 training, `--precision bf16` decoding) must not round the features: the frontend's
    mel matmul and log run in fp32 inside autocast, on the CPU as on CUDA."""
    from asr.features import FrontendConfig, LogMel

    frontend = LogMel(FrontendConfig())
    wave, lens = torch.randn(2, 16000), torch.tensor([16000, 9000])
    ref, ref_lens = frontend(wave, lens)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats, feat_lens = frontend(wave, lens)
    assert feats.dtype == torch.float32
    assert torch.equal(feats, ref) and torch.equal(feat_lens, ref_lens)
