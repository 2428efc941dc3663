"""Speech translation (issue 31): the offline parallel corpus, the translation target (decoder: the translation; CTC:
the source transcript), the task a model file records, and decoding, scoring and serving a translation model."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from asr.cli import main
from asr.corpora import translation_grammar
from asr.corpora.tts_translation import prepare_tts_translation
from asr.data.dataset import ASRDataset
from asr.data.datamodule import ASRDataModule
from asr.decoding.options import DecodeOptions
from asr.errors import UserError
from asr.inference.options import TranscribeOptions
from asr.inference.transcriber import load_model
from asr.model import ASRModel, ModelConfig
from asr.model.io import model_card
from asr.text import cut_translation
from asr.tokenizer import train_tokenizer
from asr.training.checkpoints import export
from asr.training.prepare import prepare_run
from asr.training.schedules import OptimConfig
from asr.training.task import ASRTask, TaskConfig, TokenizerConfig

TINY = dict(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling=4, subsampling_channels=8,
            conv_module=True, conv_kernel=5, dropout=0.1, task="translate", target_language="en")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A few minutes of German sentences from espeak-ng, with English translations."""
    out = tmp_path_factory.mktemp("tts-translation")
    prepare_tts_translation(out, hours=0.05, jobs=1, lm_sentences=50)
    return out


def test_the_corpus_pairs_german_speech_with_its_english_translation(corpus):
    from lhotse import CutSet

    cuts = {s: CutSet.from_file(corpus / f"{s}_cuts.jsonl.gz") for s in ("train", "dev", "test")}
    rng = random.Random("tts-translation-texts-0")
    first = translation_grammar.pair(rng)  # the first pair drawn is the first test sentence
    sup = next(iter(cuts["test"])).supervisions[0]
    assert (sup.text, sup.language, sup.custom["translated_text"]) == (first.de, "de", {"en": first.en})
    voices = {s: {c.supervisions[0].speaker for c in cs} for s, cs in cuts.items()}
    assert voices["test"] and not voices["test"] & voices["train"] and not voices["dev"] & voices["train"]
    assert all(v.startswith("espeak/de+") for vs in voices.values() for v in vs)
    train = {c.supervisions[0].text for c in cuts["train"]}
    assert not train & {c.supervisions[0].text for s in ("dev", "test") for c in cuts[s]}
    lm = set((corpus / "lm_text.txt").read_text().splitlines())
    assert not lm & {cut_translation(c, "en") for s in ("dev", "test") for c in cuts[s]}
    assert all(set(x.split()) <= translation_grammar.vocabulary("en") for x in lm)


def test_batches_carry_the_translation_for_the_decoder_and_the_transcript_for_ctc(corpus):
    from lhotse import CutSet

    cuts = CutSet.from_file(corpus / "train_cuts.jsonl.gz").subset(first=3)
    tok = train_tokenizer([c.supervisions[0].text for c in cuts] + [cut_translation(c, "en") for c in cuts], "char")
    batch = ASRDataset(tokenizer=tok, translate_to="en")[cuts]
    assert batch["text"] == [c.supervisions[0].custom["translated_text"]["en"] for c in cuts]
    assert batch["source_text"] == [c.supervisions[0].text for c in cuts]
    assert tok.decode(batch["targets"][0][: batch["target_lens"][0]].tolist()).strip() == batch["text"][0]
    assert tok.decode(batch["ctc_targets"][0][: batch["ctc_target_lens"][0]].tolist()).strip() == \
        batch["source_text"][0]
    with pytest.raises(UserError, match="no fr translation"):
        ASRDataset(tokenizer=tok, translate_to="fr")[cuts]


def test_ctc_learns_the_source_and_the_decoder_the_target():
    torch.manual_seed(0)
    net = ASRModel(ModelConfig(**{**TINY, "vocab_size": 12})).eval()
    wave, lens = torch.randn(2, 8000), torch.tensor([8000, 6000])
    src, src_lens = torch.tensor([[4, 5, 6], [7, 8, -1]]), torch.tensor([3, 2])
    tgt, tgt_lens = torch.tensor([[9, 10], [11, -1]]), torch.tensor([2, 1])
    both = net(wave, lens, tgt, tgt_lens, src, src_lens)
    assert torch.allclose(both.ctc, net(wave, lens, src, src_lens).ctc)
    assert torch.allclose(both.att, net(wave, lens, tgt, tgt_lens).att)
    assert not torch.allclose(both.ctc, net(wave, lens, tgt, tgt_lens).ctc)


def test_a_translation_model_decodes_without_ctc_in_its_search():
    opts = DecodeOptions(search="rescore", ctc_weight=0.5)
    t = opts.for_task("translate")
    assert (t.search, t.ctc_weight, t.ctc_length_tolerance, t.search_error_check) == ("joint", 0.0, None, False)
    assert opts.for_task("transcribe") == opts
    assert DecodeOptions(ctc_weight=1.0).for_task("translate").ctc_weight == 1.0  # its CTC head: the transcript
    with pytest.raises(ValueError, match="target_language"):
        ModelConfig(task="translate")


@pytest.fixture(scope="module")
def model_file(corpus, tmp_path_factory) -> Path:
    """Two optimiser steps of a tiny translation model on the corpus, exported."""
    root = tmp_path_factory.mktemp("st")
    L.seed_everything(0)
    task = ASRTask(ModelConfig(**TINY), OptimConfig(lr=1e-3, warmup_steps=5), TokenizerConfig("char"),
                   TaskConfig(cmvn_utterances=10, decode=DecodeOptions(search="greedy")))
    data = ASRDataModule(train_manifests=str(corpus / "train_cuts.jsonl.gz"),
                         valid_manifests=str(corpus / "dev_cuts.jsonl.gz"), max_duration=8.0, num_workers=0, seed=0)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, max_steps=2, limit_val_batches=2, val_check_interval=2,
                        callbacks=[ModelCheckpoint(dirpath=root / "ckpt", save_last=True, save_top_k=0)],
                        default_root_dir=root, num_sanity_val_steps=0)
    prepare_run(trainer, task, data, "fit")
    assert data.translate_to == "en"
    trainer.fit(task, datamodule=data)
    assert "val_bleu" in trainer.callback_metrics
    export([root / "ckpt" / "last.ckpt"], root / "model.pt")
    return root / "model.pt"


def test_the_model_file_records_its_task_and_language(model_file, corpus, capsys):
    model = load_model(model_file)
    assert (model.net.cfg.task, model.net.cfg.target_language) == ("translate", "en")
    assert model_card(model.net, model.tokenizer, model.meta).task == "translate into en"
    wav = str(sorted((corpus / "wav" / "test").glob("*.wav"))[0])
    assert model.task(TranscribeOptions()) == "translate"
    # --task transcribe: the CTC head's best path (greedy CTC), not the decoder
    opts = TranscribeOptions(task="transcribe", word_timestamps=False)
    assert model.decode_options(opts) == replace(opts.decode, search="greedy", ctc_weight=1.0)
    assert main(["transcribe", "--model", str(model_file), "--task", "transcribe", wav]) == 0
    assert main(["info", str(model_file)]) == 0
    assert "task: translate into en" in capsys.readouterr().out


def test_translate_asked_of_a_recogniser_is_one_clear_line(digits_model, capsys):
    wav = str(digits_model[1][0][0])
    assert main(["transcribe", "--model", str(digits_model[0]), "--task", "translate", wav]) != 0
    err = capsys.readouterr().err
    assert "not trained to translate" in err and "Traceback" not in err


def test_evaluate_reports_bleu_chrf_and_the_transcripts_wer(model_file, corpus, tmp_path, capsys):
    import json

    out = tmp_path / "st.json"
    assert main(["evaluate", "--model", str(model_file), "--manifest", str(corpus / "test_cuts.jsonl.gz"),
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "BLEU" in text and "chrF" in text and "source transcript (CTC head, best path): WER" in text
    summary = json.loads(out.read_text())
    assert summary["task"] == "translate" and 0 <= summary["bleu"] <= 100 and summary["transcript_wer"] >= 0
    assert summary["utterances"] == len(list((corpus / "wav" / "test").glob("*.wav")))


def test_one_pass_gives_the_translation_and_the_source_as_transcribe_reads_it(model_file, corpus):
    """A translation also carries the CTC head's reading of the source (`Transcript.source_text`), the text that
    `task="transcribe"` gives, so `asr evaluate` scores both from one encoder pass, as two passes would."""
    from lhotse import CutSet

    from asr.inference.evaluation import evaluate
    from asr.inference.translation_eval import evaluate_translation

    model = load_model(model_file)
    wavs = [str(w) for w in sorted((corpus / "wav" / "test").glob("*.wav"))[:6]]
    translated = model.transcribe(wavs, task="translate")
    transcribed = model.transcribe(wavs, task="transcribe")
    assert [t.source_text for t in translated] == [t.text for t in transcribed]
    assert all(t.source_text is None for t in transcribed)
    assert "source_text" in translated[0].to_dict()["segments"][0]
    assert "source_text" not in transcribed[0].to_dict()["segments"][0]
    cuts = CutSet.from_file(corpus / "test_cuts.jsonl.gz").subset(first=6)
    ev = evaluate_translation(model, cuts, TranscribeOptions(word_timestamps=False))
    two = evaluate(model, cuts, TranscribeOptions(task="transcribe", word_timestamps=False))
    assert ev.transcript.hyps == two.hyps and ev.transcript.refs == two.refs
    assert ev.translation.refs != ev.transcript.refs  # English references for one view, German for the other


def test_attention_picture_names_the_spoken_words(model_file, corpus):
    from asr.audio import open_audio

    model = load_model(model_file)
    wav = sorted((corpus / "wav" / "test").glob("*.wav"))[0]
    maps = model.attention_maps(str(wav), lambda: open_audio(wav), TranscribeOptions(), text="the red table")
    assert maps.labels[-1] == "<eos>" and maps.cross[0].shape[1] == len(maps.labels)
    assert all(a <= b for _, a, b in maps.source_words)


def test_server_translates_into_english_and_transcribes_the_source(model_file, corpus, digits_model):
    openai = pytest.importorskip("openai")
    from serve_util import running

    from asr.serve import ServeOptions, create_app, serve_models

    opts = ServeOptions(max_batch=4, max_wait_ms=5)
    wav = sorted((corpus / "wav" / "test").glob("*.wav"))[0]
    app = create_app(serve_models({"st": str(model_file), "digits": str(digits_model[0])}, opts), opts)
    with running(app, max_requests=20) as url:
        c = openai.OpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0)
        with open(wav, "rb") as f:
            t = c.audio.translations.create(model="st", file=f, response_format="verbose_json")
        assert t.task == "translate" and t.language == "english"
        with open(wav, "rb") as f:  # no model named: the one that translates into English
            assert c.audio.translations.create(model="", file=f).text == t.text
        with open(wav, "rb") as f:
            s = c.audio.transcriptions.create(model="st", file=f, response_format="verbose_json")
        assert s.task == "transcribe"
        local = load_model(model_file)
        assert s.text == local.transcribe(str(wav), task="transcribe").text
        assert t.text == local.transcribe(str(wav), task="translate").text
        with open(wav, "rb") as f, pytest.raises(openai.BadRequestError) as e:
            c.audio.translations.create(model="digits", file=f)
        assert e.value.body["code"] == "unsupported_task" and "st: translates into en" in e.value.body["message"]
