"""The chunk-by-chunk encoder with its caches equals the whole-utterance encoder under the same chunk mask."""

from __future__ import annotations

import pytest
import torch

from asr.model.asr_model import ASRModel
from asr.model.config import ModelConfig
from asr.model.encoder import chunk_mask, random_chunk
from asr.model.layers import ConvModule


def _model(**kw) -> ASRModel:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=12, d_model=32, heads=4, enc_layers=3, dec_layers=1, ffn=64, subsampling_channels=8,
                      conv_module=True, causal=True, conv_kernel=5, **kw)
    return ASRModel(cfg).eval()


def _chunked(model: ASRModel, feats: torch.Tensor, chunk: int, left_chunks: int) -> torch.Tensor:
    """feats (1, T, F) -> states (1, T', D) computed chunk by chunk through the caches."""
    step, field = model.encoder.stride()
    need = (chunk - 1) * step + field
    out, cache, start = [], None, 0
    while feats.shape[1] - start >= field:
        piece = feats[:, start : start + need]
        y, cache = model.encoder.forward_chunk(piece, cache, -1 if left_chunks < 0 else left_chunks * chunk)
        out.append(y)
        start += chunk * step
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("subsampling", [4, 6])
@pytest.mark.parametrize("chunk,left_chunks", [(1, -1), (4, -1), (4, 0), (4, 2), (7, 1), (16, -1)])
def test_chunk_by_chunk_equals_masked_forward(subsampling: int, chunk: int, left_chunks: int) -> None:
    model = _model(subsampling=subsampling)
    torch.manual_seed(1)
    T = 203  # not a multiple of any chunk's input: the last chunk is shorter
    feats = torch.randn(1, T, model.cfg.frontend.n_mels)
    with torch.no_grad():
        whole, lens, _ = model.encoder(feats, torch.tensor([T]), chunk=chunk, left_chunks=left_chunks)
        pieces = _chunked(model, feats, chunk, left_chunks)
    assert pieces.shape == whole.shape
    torch.testing.assert_close(pieces, whole, atol=1e-5, rtol=1e-4)


def test_chunk_mask_changes_the_states() -> None:
    """The test above has teeth: under full context the states differ from the chunked ones."""
    model = _model()
    feats = torch.randn(1, 120, model.cfg.frontend.n_mels)
    with torch.no_grad():
        full, _, _ = model.encoder(feats, torch.tensor([120]))
        pieces = _chunked(model, feats, 4, -1)
    assert (full - pieces).abs().max() > 1e-2


def test_padding_does_not_leak_under_a_chunk_mask() -> None:
    """An utterance padded in a batch gets the states it gets alone, with a chunk and a left-context bound."""
    model = _model()
    a, b = torch.randn(1, 150, 80), torch.randn(1, 90, 80)
    batch = torch.cat([a, torch.nn.functional.pad(b, (0, 0, 0, 60))])
    with torch.no_grad():
        both, lens, _ = model.encoder(batch, torch.tensor([150, 90]), chunk=3, left_chunks=1)
        alone, lb, _ = model.encoder(b, torch.tensor([90]), chunk=3, left_chunks=1)
    assert torch.isfinite(both).all()
    torch.testing.assert_close(both[1, : int(lb)], alone[0], atol=1e-5, rtol=1e-4)


def test_causal_conv_step_equals_whole() -> None:
    torch.manual_seed(0)
    conv = ConvModule(16, 7, 0.0, causal=True).eval()
    x = torch.randn(2, 23, 16)
    with torch.no_grad():
        whole = conv(x, torch.ones(2, 23, dtype=torch.bool))
        outs, cache = [], None
        for piece in x.split(5, dim=1):
            y, cache = conv.step(piece, cache)
            outs.append(y)
    torch.testing.assert_close(torch.cat(outs, dim=1), whole, atol=1e-6, rtol=1e-5)
    # causal: the first frame's output does not change when later frames do
    x2 = x.clone()
    x2[:, 1:] += 1.0
    with torch.no_grad():
        assert torch.allclose(conv(x2, torch.ones(2, 23, dtype=torch.bool))[:, 0], whole[:, 0])


def test_chunk_mask_and_random_chunk() -> None:
    m = chunk_mask(6, 2, left_chunks=1)
    assert m.tolist()[4] == [False, False, True, True, True, True]
    assert m.tolist()[1] == [True, True, False, False, False, False]
    assert chunk_mask(5, 0).all()
    torch.manual_seed(0)
    draws = [random_chunk(100, 25, True) for _ in range(400)]
    full = sum(c == 0 for c, _ in draws)
    assert 120 < full < 280  # about half the batches see everything
    assert all(1 <= c <= 25 and 0 <= left < max(1, 99 // c) for c, left in draws if c > 0)


def test_offline_models_refuse_to_stream() -> None:
    cfg = ModelConfig(vocab_size=12, d_model=32, heads=4, enc_layers=1, dec_layers=1, ffn=64, subsampling_channels=8,
                      conv_module=True)
    with pytest.raises(ValueError, match="causal"):
        ASRModel(cfg).encoder.forward_chunk(torch.randn(1, 7, 80), None)
    with pytest.raises(ValueError, match="causal"):
        ModelConfig(vocab_size=12, conv_module=True, dynamic_chunk=True)


def test_dynamic_chunk_training_runs_and_eval_is_full_context() -> None:
    model = _model(dynamic_chunk=True, dynamic_left_chunks=True)
    feats, lens = torch.randn(2, 100, 80), torch.tensor([100, 80])
    model.train()
    torch.manual_seed(3)
    a, _, _ = model.encoder(feats, lens)
    assert torch.isfinite(a).all()
    model.eval()
    with torch.no_grad():
        e1, _, _ = model.encoder(feats, lens)
        e2, _, _ = model.encoder(feats, lens, chunk=0)
    torch.testing.assert_close(e1, e2)
