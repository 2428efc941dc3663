"""The conformer's levers (relative positions, macaron feed-forwards): relative-position scores equal their
definition computed one pair at a time; attention pictures, model files, and older files without the levers.
Padding invariance and training for each lever: tests/test_model.py."""

import math
from dataclasses import replace

import pytest
import torch

from asr.model import ASRModel, ModelConfig
from asr.model.attention import MultiHeadAttention, key_padding_mask, rel_shift
from asr.model.io import load_model_file, save_model
from asr.model.layers import relative_positions, sinusoidal_positions
from asr.tokenizer import train_tokenizer


@pytest.fixture
def conformer_cfg(tiny_cfg):
    return replace(tiny_cfg, pos_enc="rel", macaron_ffn=True)


def _model(cfg, seed=0):
    torch.manual_seed(seed)
    return ASRModel(cfg).eval()


def test_rel_shift_reads_relative_position_i_minus_j():
    B, H, T = 2, 3, 5
    x = torch.randn(B, H, T, 2 * T - 1)  # column c: relative position T - 1 - c
    out = rel_shift(x)
    assert out.shape == (B, H, T, T)
    for i in range(T):
        for j in range(T):
            assert torch.equal(out[..., i, j], x[..., i, (T - 1) - (i - j)])


def test_relative_attention_equals_scores_computed_pair_by_pair():
    """softmax_j [(q_i + u) . k_j + (q_i + v) . W_pos p(i - j)] / sqrt(d_k) over the valid keys, by loops."""
    torch.manual_seed(0)
    D, H, T = 16, 2, 6
    attn = MultiHeadAttention(D, H, rel_pos=True).eval()
    x = torch.randn(2, T, D)
    lens = torch.tensor([T, 4])
    with torch.no_grad():
        _, w, _ = attn(x, mask=key_padding_mask(lens, T), pos=relative_positions(T, D), need_weights=True)
        dk = D // H
        q, k = attn.q(x).view(2, T, H, dk), attn.k(x).view(2, T, H, dk)
        ref = torch.zeros(2, H, T, T)
        for b in range(2):
            for h in range(H):
                for i in range(T):
                    n = int(lens[b])
                    s = torch.empty(n)
                    for j in range(n):
                        p = attn.pos(sinusoidal_positions(1, D, offset=i - j)[0]).view(H, dk)[h]
                        s[j] = ((q[b, i, h] + attn.pos_bias_u[h]) @ k[b, j, h]
                                + (q[b, i, h] + attn.pos_bias_v[h]) @ p) / math.sqrt(dk)
                    ref[b, h, i, :n] = torch.softmax(s, 0)
    torch.testing.assert_close(w, ref, atol=1e-6, rtol=1e-5)


def test_relative_attention_fused_path_equals_explicit_path_with_gradients():
    """The fused kernel takes the relative scores as a float mask: same output and gradients as the explicit
    path (the one need_weights and CPU bf16 take)."""
    torch.manual_seed(0)
    attn = MultiHeadAttention(32, 4, rel_pos=True)
    x = torch.randn(3, 9, 32, requires_grad=True)
    mask, pos = key_padding_mask(torch.tensor([9, 4, 6]), 9), relative_positions(9, 32)
    results = []
    for need_weights in (False, True):
        y, _, _ = attn(x, mask=mask, pos=pos, need_weights=need_weights)
        results.append((y, torch.autograd.grad(y.square().sum(), [x, *attn.parameters()])))
    (fast, fast_grads), (slow, slow_grads) = results
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-4)
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert all(g.abs().sum() > 0 for g in fast_grads)  # pos_bias_u, pos_bias_v and W_pos are trained


def test_relative_attention_in_bf16_on_the_cpu_matches_fp32():
    torch.manual_seed(0)
    attn = MultiHeadAttention(64, 4, rel_pos=True)
    x = torch.randn(3, 9, 64)
    mask, pos = key_padding_mask(torch.tensor([9, 4, 6]), 9), relative_positions(9, 64)
    ref, _, _ = attn(x, mask=mask, pos=pos)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _, _ = attn(x, mask=mask, pos=pos)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, atol=3e-2, rtol=3e-2)


def test_conformer_returns_attention_for_pictures(conformer_cfg):
    model = _model(conformer_cfg)
    wave, lens = torch.randn(2, 16000), torch.tensor([16000, 8000])
    with torch.no_grad():
        enc, enc_lens, enc_w = model.encode(wave, lens, need_weights=True)
        fast, _, _ = model.encode(wave, lens)
    T, n = enc.shape[1], int(enc_lens[1])
    assert len(enc_w) == conformer_cfg.enc_layers and enc_w[0].shape == (2, conformer_cfg.heads, T, T)
    torch.testing.assert_close(enc_w[0].sum(-1), torch.ones(2, conformer_cfg.heads, T))
    assert torch.all(enc_w[0][1, :, :, n:] == 0)
    torch.testing.assert_close(enc, fast, atol=1e-5, rtol=1e-4)


def _saved(cfg, path):
    """A model of `cfg` (with a letter tokenizer's vocabulary) written to `path`."""
    tok = train_tokenizer(["one two three", "four five"], "char")
    model = _model(replace(cfg, vocab_size=tok.vocab_size))
    save_model(path, model, tok)
    return model


def test_conformer_model_file_round_trip(tmp_path, conformer_cfg):
    model = _saved(conformer_cfg, tmp_path / "m.pt")
    loaded, _, _ = load_model_file(tmp_path / "m.pt")
    assert loaded.cfg.pos_enc == "rel" and loaded.cfg.macaron_ffn
    wave, lens = torch.randn(2, 8000), torch.tensor([8000, 5000])
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(wave, lens)[0], model.encode(wave, lens)[0], atol=0, rtol=0)


def test_a_model_file_from_before_the_levers_loads_as_a_transformer(tmp_path, tiny_cfg):
    """Older files' configs lack pos_enc and macaron_ffn: they load with the transformer block, same outputs."""
    model = _saved(tiny_cfg, tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    del blob["config"]["pos_enc"], blob["config"]["macaron_ffn"]
    torch.save(blob, tmp_path / "old.pt")
    loaded, _, _ = load_model_file(tmp_path / "old.pt")
    assert loaded.cfg.pos_enc == "abs" and not loaded.cfg.macaron_ffn
    wave, lens = torch.randn(1, 8000), torch.tensor([8000])
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(wave, lens)[0], model.encode(wave, lens)[0], atol=0, rtol=0)


def test_an_unknown_position_encoding_is_refused():
    with pytest.raises(ValueError, match="pos_enc"):
        ModelConfig(pos_enc="rope")
