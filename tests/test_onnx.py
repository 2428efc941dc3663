"""`asr export --format onnx` and the onnxruntime backend: each graph against eager PyTorch (random lengths, the
shortest input, the decoder's first step on an empty cache, chunk by chunk), token-identical transcripts from both
backends (greedy, joint beam with an n-gram, rescoring, streaming), int8, and an exported folder served to the
openai client."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from asr.cli import main  # noqa: E402
from asr.errors import UserError  # noqa: E402
from asr.inference.transcriber import load_model  # noqa: E402
from asr.model import ASRModel, ModelConfig  # noqa: E402
from asr.model.io import load_model_file  # noqa: E402
from asr.runtime.export import export_onnx, quantize_folder  # noqa: E402
from asr.runtime.onnx_net import load_onnx_folder  # noqa: E402
from asr.tokenizer import train_tokenizer  # noqa: E402

pytestmark = pytest.mark.timeout(600)
SR = 16_000


@pytest.fixture(scope="module")
def exported(digits_model, tmp_path_factory):
    """(model file, exported folder, held-out [(wav, text)]): the suite's digit model through `asr export`."""
    path, heldout = digits_model
    out = tmp_path_factory.mktemp("onnx") / "digits"
    assert main(["export", str(path), "--format", "onnx", "--out", str(out)]) == 0
    return path, out, heldout


@pytest.fixture(scope="module")
def exported_streaming(streaming_digits_model, tmp_path_factory):
    path, heldout = streaming_digits_model
    out = tmp_path_factory.mktemp("onnx") / "streaming"
    net, tok, meta = load_model_file(path)
    export_onnx(net, tok, meta, out, progress=lambda _: None)
    return path, out, heldout


def test_the_folder_holds_checked_graphs_and_what_the_model_file_held(exported, capsys):
    import onnx

    path, out, _ = exported
    info = json.loads((out / "model.json").read_text())
    assert set(info["graphs"]) == {"encoder", "ctc", "decoder_init", "decoder_step", "features"}
    for g in info["graphs"].values():
        onnx.checker.check_model(str(out / g["file"]), full_check=True)
        assert onnx.load(str(out / g["file"])).opset_import[0].version == info["opset"] == 18
    net, tok, _ = load_model_file(path)
    assert info["config"] == net.cfg.to_dict() and info["tokenizer"] == tok.state()
    assert info["cmvn"]["mean"] == pytest.approx(net.cmvn.mean.tolist())
    assert info["meta"]["card"]["parameters"] == sum(p.numel() for p in net.parameters())
    assert main(["info", str(out)]) == 0
    assert "onnx graphs: encoder, ctc, decoder_init, decoder_step, features (opset 18, fp32" in capsys.readouterr().out


@pytest.mark.parametrize("samples", [1, 399, 1600, 23_456, 5 * SR])
def test_encoder_and_ctc_graphs_equal_eager(exported, samples):
    """The shortest input (one sample: padded to one encoder frame), a partial window, and random lengths in a
    batch whose second utterance is shorter."""
    path, out, _ = exported
    net, _, _ = load_model_file(path)
    onet, _, _ = load_onnx_folder(out)
    torch.manual_seed(samples)
    wave = torch.randn(2, samples) * 0.1
    lens = torch.tensor([samples, max(1, samples * 2 // 3)])
    with torch.no_grad():
        enc, enc_lens, _ = net.encode(wave, lens)
        ort_enc, ort_lens, _ = onet.encode(wave, lens)
        assert torch.equal(enc_lens, ort_lens)
        torch.testing.assert_close(ort_enc, enc, atol=2e-4, rtol=1e-3)
        torch.testing.assert_close(onet.ctc_log_probs(enc), net.ctc_log_probs(enc), atol=2e-4, rtol=1e-3)
        feats, frames = net.features(wave, lens)
        ort_feats, ort_frames = onet.features(wave, lens)
        assert torch.equal(frames, ort_frames)
        torch.testing.assert_close(ort_feats, feats, atol=2e-3, rtol=1e-3)  # log-mel: the DFT as a convolution


def test_decoder_steps_equal_eager_from_the_empty_cache(exported):
    """The first step (no self-attention keys yet), the steps after it with a growing cache, reordered rows (a
    beam's pruning), and teacher forcing of a whole sequence in one call."""
    path, out, _ = exported
    net, _, _ = load_model_file(path)
    onet, _, _ = load_onnx_folder(out)
    torch.manual_seed(0)
    memory, lens = torch.randn(3, 17, net.cfg.d_model), torch.tensor([17, 9, 1])
    with torch.no_grad():
        a, b = net.decoder.init_cache(memory, lens), onet.decoder.init_cache(memory, lens)
        for x, y in zip(a.cross_kv, b.cross_kv):
            torch.testing.assert_close(y[0], x[0], atol=1e-5, rtol=1e-4)
        tokens = torch.full((3, 1), 1)
        for step in range(6):
            pa, a = net.decoder.step(tokens, a)
            pb, b = onet.decoder.step(tokens, b)
            torch.testing.assert_close(pb, pa, atol=1e-4, rtol=1e-4)
            assert a.length == b.length == step + 1
            order = torch.tensor([2, 0, 0]) if step == 2 else torch.arange(3)
            a, b = a.select(order), b.select(order)
            tokens = torch.randint(3, net.cfg.vocab_size, (3, 1))
        seq = torch.randint(3, net.cfg.vocab_size, (3, 5))
        seq[:, 0] = 1
        whole, _ = net.decoder(seq, memory, lens)
        ort_whole, _ = onet.decoder(seq, memory, lens)
        torch.testing.assert_close(ort_whole, torch.log_softmax(whole, dim=-1), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("chunk", [1, 4, 16])
def test_the_chunk_graph_equals_the_eager_chunk_step(exported_streaming, chunk):
    path, out, _ = exported_streaming
    net, _, _ = load_model_file(path)
    onet, _, _ = load_onnx_folder(out)
    stride, field = net.encoder.stride()
    assert onet.encoder.stride() == (stride, field)
    torch.manual_seed(chunk)
    feats, left = torch.randn(2, 150, net.cfg.frontend.n_mels), 2 * chunk
    a = b = None
    pos = 0
    with torch.no_grad():
        while pos + field <= feats.shape[1]:  # the first chunk on empty caches; the last one may be shorter
            n = min((chunk - 1) * stride + field, feats.shape[1] - pos)
            x = feats[:, pos : pos + (n - field) // stride * stride + field]
            sa, a = net.encoder.forward_chunk(x, a, left)
            sb, b = onet.encoder.forward_chunk(x, b, left)
            torch.testing.assert_close(sb, sa, atol=2e-4, rtol=1e-3)
            assert a.offset == b.offset and all(p[0].shape == q[0].shape for p, q in zip(a.kv, b.kv))
            pos += chunk * stride
    assert a.offset > 3


def _arpa(path: Path, words: list[str]) -> Path:
    """A bigram over the digit words that prefers "one" after anything: an LM that moves the search."""
    uni = [f"-1.0\t{w}\t-0.3" for w in words] + ["-1.0\t</s>", "-99\t<s>\t-0.3"]
    bi = [f"-0.1\t{w} one" for w in words]
    path.write_text("\\data\\\n" f"ngram 1={len(uni)}\nngram 2={len(bi)}\n\n\\1-grams:\n" + "\n".join(uni)
                    + "\n\n\\2-grams:\n" + "\n".join(bi) + "\n\n\\end\\\n")
    return path


def test_both_backends_transcribe_token_for_token(exported, tmp_path):
    """The held-out set through greedy, the joint beam, the joint beam with an n-gram fused, and rescoring."""
    path, out, heldout = exported
    eager, ort = load_model(path), load_model(out, backend="onnxruntime")
    assert (eager.backend, ort.backend) == ("torch", "onnxruntime")
    wavs = [w for w, _ in heldout[:12]]
    words = sorted({w for _, t in heldout for w in t.split()})
    arpa = _arpa(tmp_path / "lm.arpa", words)
    for options in [{"beam": 1}, {"beam": 4}, {"beam": 4, "ngram": str(arpa), "ngram_weight": 1.0},
                    {"search": "rescore", "beam": 4}, {"beam": 4, "word_timestamps": True}]:
        a, b = eager.transcribe(wavs, **options), ort.transcribe(wavs, **options)
        assert [s.tokens for t in a for s in t.segments] == [s.tokens for t in b for s in t.segments], options
        assert [t.text for t in a] == [t.text for t in b]
    with_lm = ort.transcribe(wavs, beam=4, ngram=str(arpa), ngram_weight=1.0)
    assert [t.text for t in with_lm] != [t.text for t in b]  # the LM moved the search: the comparison has teeth
    assert sum(t.text == ref for t, (_, ref) in zip(b, heldout)) >= 8


def test_streams_on_both_backends_give_the_same_events(exported_streaming):
    import soundfile as sf

    path, out, heldout = exported_streaming
    eager, ort = load_model(path), load_model(out)
    for wav, _ in heldout[:3]:
        wave, _ = sf.read(wav, dtype="float32")
        runs = []
        for model in (eager, ort):
            stream = model.stream(160)
            events = [e for i in range(0, len(wave), 1600) for e in stream.accept(wave[i : i + 1600])]
            runs.append([(e.final, e.text) for e in events + stream.finish()])
        assert runs[0] == runs[1] and runs[0][-1][1]


def test_int8_keeps_the_transcripts_close(exported, tmp_path):
    path, out, heldout = exported
    q = tmp_path / "int8"
    quantize_folder(out, q)
    assert sum(f.stat().st_size for f in q.glob("*.onnx")) < 0.6 * sum(f.stat().st_size for f in out.glob("*.onnx"))
    wavs = [w for w, _ in heldout[:12]]
    a, b = load_model(path).transcribe(wavs), load_model(q).transcribe(wavs)
    assert sum(x.text == y.text for x, y in zip(a, b)) >= 10


def test_rel_pos_conformer_exports(tmp_path):
    """The offline conformer (relative positions, macaron pair, centred conv module) through the encoder graph."""
    torch.manual_seed(0)
    tok = train_tokenizer(["abc def", "ghi"], "char")
    cfg = ModelConfig(vocab_size=tok.vocab_size, d_model=32, heads=4, enc_layers=2, dec_layers=1, ffn=64,
                      subsampling_channels=8, conv_module=True, conv_kernel=5, pos_enc="rel", macaron_ffn=True)
    net = ASRModel(cfg).eval()
    export_onnx(net, tok, {}, tmp_path, progress=lambda _: None, only={"encoder"})
    onet, _, _ = load_onnx_folder(tmp_path)
    wave = torch.randn(2, 12_345) * 0.1
    lens = torch.tensor([12_345, 7_000])
    with torch.no_grad():
        torch.testing.assert_close(onet.encode(wave, lens)[0], net.encode(wave, lens)[0], atol=2e-4, rtol=1e-3)


def test_a_translation_model_translates_and_transcribes_alike_on_both_backends(tmp_path):
    """A speech-translation model (`task: translate`) exported: the folder keeps its task, and both backends give
    the same decoder translation and the same CTC transcript, token for token."""
    from asr.model.io import save_model

    torch.manual_seed(0)
    tok = train_tokenizer(["der hund schläft", "the dog sleeps"], "char")
    cfg = ModelConfig(vocab_size=tok.vocab_size, d_model=32, heads=4, enc_layers=2, dec_layers=1, ffn=64,
                      subsampling_channels=8, conv_module=True, conv_kernel=5, task="translate",
                      target_language="en")
    path = tmp_path / "st.pt"
    save_model(path, ASRModel(cfg).eval(), tok)
    out = tmp_path / "onnx"
    assert main(["export", str(path), "--format", "onnx", "--out", str(out)]) == 0
    eager, ort = load_model(path), load_model(out, backend="onnxruntime")
    assert ort.net.cfg.task == "translate" and ort.net.cfg.target_language == "en"
    import soundfile as sf

    rng = np.random.default_rng(0)
    waves = []
    for i, n in enumerate((8_000, 19_999, 31_000)):
        waves.append(tmp_path / f"{i}.wav")
        sf.write(waves[-1], rng.standard_normal(n).astype(np.float32) * 0.1, SR)
    for task in ("translate", "transcribe"):
        for options in [{"beam": 1}, {"beam": 3}]:
            a = eager.transcribe(waves, task=task, max_len_ratio=0.2, **options)
            b = ort.transcribe(waves, task=task, max_len_ratio=0.2, **options)
            assert [s.tokens for t in a for s in t.segments] == [s.tokens for t in b for s in t.segments], (task, options)
    translated = [s.tokens for t in eager.transcribe(waves, task="translate", beam=1) for s in t.segments]
    transcribed = [s.tokens for t in eager.transcribe(waves, task="transcribe", beam=1) for s in t.segments]
    assert translated != transcribed  # two heads, two outputs: the comparison above covers both


def test_backend_mismatches_and_unsupported_uses_are_one_clear_line(exported, capsys, tmp_path):
    path, out, heldout = exported
    with pytest.raises(UserError, match="--backend onnxruntime runs an exported folder"):
        load_model(path, backend="onnxruntime")
    with pytest.raises(UserError, match="exported \\(ONNX\\) folder"):
        load_model(out, backend="torch")
    assert main(["plot-attention", "--model", str(out), str(heldout[0][0]), "--out", str(tmp_path / "a.png")]) != 0
    assert "PyTorch model file" in capsys.readouterr().err
    assert main(["export", str(path), "--format", "onnx", "--out", str(out / "x.pt")]) != 0
    with pytest.raises(UserError, match="runs in fp32"):
        load_model(out).transcribe(str(heldout[0][0]), precision="bf16")


def test_an_exported_folder_served_to_the_openai_client(exported):
    openai = pytest.importorskip("openai")
    from serve_util import running

    from asr.serve import ServeOptions, create_app, serve_models

    path, out, heldout = exported
    wavs = [w for w, _ in heldout[:4]]
    expected = [t.text for t in load_model(path).transcribe(wavs)]
    opts = ServeOptions(max_batch=4, max_wait_ms=20)
    app = create_app(serve_models({"digits-onnx": out}, opts), opts)
    with running(app, max_requests=50) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=60)
        got = []
        for wav in wavs:
            with open(wav, "rb") as f:
                got.append(client.audio.transcriptions.create(model="digits-onnx", file=f).text)
        assert [m.id for m in client.models.list().data] == ["digits-onnx"]
    assert got == expected
    assert np.mean([bool(t) for t in got]) == 1.0
