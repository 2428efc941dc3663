"""Public corpora on small fixture folders in each corpus's real layout, built here from synthesised audio.

No test touches the network: urllib is replaced by a guard (or, for the download tests, by a fake server that
answers "you already have the whole file", which is what openslr says to a finished resumable download).
"""

from __future__ import annotations

import email.message
import hashlib
import itertools
import subprocess
import tarfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet

from asr.cli import main
from asr.corpora import public
from asr.corpora.commonvoice import prepare_commonvoice
from asr.corpora.librispeech import parse_parts, prepare_librispeech
from asr.corpora.ljspeech import prepare_ljspeech
from asr.corpora.tedlium import prepare_tedlium
from asr.corpora.yesno import prepare_yesno
from asr.errors import UserError


def tone(path: Path, seconds: float, rate: int, seed: int = 0) -> None:
    """A sine plus a little noise: speech content does not matter for layout tests."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.1 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype(np.float32), rate)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def fake_server_has_nothing_more(monkeypatch) -> list[str]:
    """urlopen that answers a resumed download of a complete file with 416 (as openslr does); records URLs."""
    asked: list[str] = []

    def urlopen(req, *args, **kwargs):
        asked.append(req.full_url)
        start = int(req.headers["Range"].split("=")[1].rstrip("-"))
        headers = email.message.Message()
        headers["Content-Range"] = f"bytes */{start}"
        raise urllib.error.HTTPError(req.full_url, 416, "Range Not Satisfiable", headers, None)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return asked


def summary_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if " utterances, " in line]


# --root as users give it: the folder holding the corpus (what --download writes into) or the corpus folder itself
GIVEN = ["parent", "itself"]


def root_as(given: str, parent: Path, name: str) -> Path:
    return parent if given == "parent" else parent / name


# ---- LibriSpeech --------------------------------------------------------------------------------------------
TRANSCRIPTS = {
    ("19", "198"): ["NORTHANGER ABBEY", "THAT IS TO SAY HIS TEMPER'S GOOD"],
    ("26", "495"): ["CHAPTER ONE MISSUS RACHEL LYNDE IS SURPRISED"],
}


def make_librispeech(root: Path, part: str = "dev-clean-2") -> Path:
    for (spk, chap), texts in TRANSCRIPTS.items():
        folder = root / "LibriSpeech" / part / spk / chap
        lines = []
        for i, text in enumerate(texts):
            utt = f"{spk}-{chap}-{i:04d}"
            tone(folder / f"{utt}.flac", 0.5 + 0.25 * i, 16000, seed=i)
            lines.append(f"{utt} {text}\n")
        (folder / f"{spk}-{chap}.trans.txt").write_text("".join(lines))
    return root


def test_librispeech_layout_gives_normalised_manifests_and_a_summary(tmp_path, capsys):
    root, out = make_librispeech(tmp_path / "dl"), tmp_path / "data"
    assert main(["prepare", "librispeech", "--out", str(out), "--root", str(root), "--parts", "dev-clean-2"]) == 0
    for kind in ("recordings", "supervisions", "cuts"):
        assert (out / f"dev-clean-2_{kind}.jsonl.gz").is_file()
    loaded = CutSet.from_file(out / "dev-clean-2_cuts.jsonl.gz").to_eager()
    texts = {c.id: c.supervisions[0].text for c in loaded}
    assert texts["19-198-0001"] == "that is to say his temper's good"
    assert len(loaded) == 3 and {c.supervisions[0].speaker for c in loaded} == {"19", "26"}
    assert loaded["19-198-0001"].duration == pytest.approx(0.75)
    (line,) = summary_lines(capsys.readouterr().out)
    assert line.startswith("librispeech dev-clean-2: 3 utterances") and "2 speakers" in line and "15 words" in line
    # idempotent: a second run keeps the manifests
    assert list(prepare_librispeech(out, root, "dev-clean-2")["dev-clean-2"].ids) == list(loaded.ids)


def test_librispeech_presets_and_bad_part_names():
    assert parse_parts("mini") == ("dev-clean-2", "train-clean-5")
    assert "train-clean-100" in parse_parts("100") and len(parse_parts("960")) == 7
    assert parse_parts("dev-clean, test-other") == ("dev-clean", "test-other")
    with pytest.raises(UserError, match="unknown LibriSpeech part"):
        parse_parts("dev-cleen")


@pytest.mark.parametrize("given", [*GIVEN, "renamed"])
def test_librispeech_prepares_the_parts_found_in_the_folder_or_its_parent(tmp_path, capsys, given):
    dl, out = make_librispeech(tmp_path / "dl", "dev-clean"), tmp_path / "data"
    corpus = dl / "LibriSpeech"
    if given == "renamed":  # a copy under another name is still read (lhotse's recipe does not care)
        corpus = corpus.rename(dl / "librispeech-copy")
    root = dl if given == "parent" else corpus
    assert main(["prepare", "librispeech", "--out", str(out), "--root", str(root)]) == 0  # no --parts: what is there
    assert len(CutSet.from_file(out / "dev-clean_cuts.jsonl.gz")) == 3
    assert sorted(p.name for p in out.glob("*_cuts.jsonl.gz")) == ["dev-clean_cuts.jsonl.gz"]
    stdout = capsys.readouterr().out
    assert f"librispeech: preparing dev-clean, found in {corpus} (choose with --parts)" in stdout.splitlines()
    assert [line.split(":")[0] for line in summary_lines(stdout)] == ["librispeech dev-clean"]


def test_librispeech_missing_parts_are_named_before_any_work_with_the_command_that_fetches_them(tmp_path, capsys):
    dl, out = make_librispeech(tmp_path / "dl", "dev-clean"), tmp_path / "data"
    corpus = dl / "LibriSpeech"
    args = ["prepare", "librispeech", "--out", str(out), "--root", str(corpus), "--parts", "dev-clean,test-clean"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: LibriSpeech part(s) test-clean not found")
    assert str(corpus / "test-clean") in err
    assert f"asr prepare librispeech --root {corpus} --parts test-clean --download --out {out}" in err
    assert not (out / "dev-clean_cuts.jsonl.gz").exists()  # dev-clean was not prepared first
    # an explicit preset names each missing folder too
    with pytest.raises(UserError) as e:
        prepare_librispeech(out, tmp_path / "empty", "mini")
    assert str(tmp_path / "empty" / "LibriSpeech" / "dev-clean-2") in str(e.value)
    assert f"--root {tmp_path / 'empty'} --parts dev-clean-2,train-clean-5 --download" in str(e.value)


def test_a_folder_without_the_corpus_is_one_line_naming_what_was_looked_for_and_the_download(tmp_path, capsys):
    dl, out = tmp_path / "dl", tmp_path / "data"
    dl.mkdir()
    looked_for = {  # corpus -> what the message names, the options of the command it suggests
        "librispeech": (["dev-clean-2", "train-clean-5", "train-other-500", str(dl / "LibriSpeech")],
                        "--parts mini --download"),
        "tedlium": (["legacy/{train,dev,test}/{sph,stm}", str(dl / "TEDLIUM_release-3")], "--download"),
        "ljspeech": (["metadata.csv", str(dl / "LJSpeech-1.1")], "--download"),
        "yesno": (["1_0_1_1_0_0_1_0.wav", str(dl / "waves_yesno")], "--download"),
        "commonvoice": (["cv-corpus-*/<language>/clips", "commonvoice.mozilla.org"], "--language en"),
    }
    for corpus, (names, options) in looked_for.items():
        assert main(["prepare", corpus, "--out", str(out), "--root", str(dl)]) == 2, corpus
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        for piece in [*names, f"asr prepare {corpus} --root {dl} {options} --out {out}"]:
            assert piece in err, (corpus, piece, err)


def archive_of(root: Path, folder: str, name: str) -> Path:
    tar_path = root / name
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(root / folder, arcname=folder)
    return tar_path


@pytest.mark.parametrize("given", GIVEN)
def test_download_verifies_the_archive_then_lhotse_unpacks_it(tmp_path, monkeypatch, given):
    staging = make_librispeech(tmp_path / "staging")
    root = tmp_path / "dl"
    root.mkdir()
    tar_path = archive_of(staging, "LibriSpeech", "dev-clean-2.tar.gz")
    tar_path.rename(root / tar_path.name)  # as a finished earlier download would have left it
    md5 = hashlib.md5((root / tar_path.name).read_bytes()).hexdigest()
    monkeypatch.setitem(public.KNOWN_CHECKSUMS, "dev-clean-2.tar.gz", ("md5", md5))
    asked = fake_server_has_nothing_more(monkeypatch)
    # --root LibriSpeech (not there yet): the archive, which unpacks to LibriSpeech/, goes into the folder above
    given_root = root_as(given, root, "LibriSpeech")
    cuts = prepare_librispeech(tmp_path / "data", given_root, "dev-clean-2", download=True)
    assert len(cuts["dev-clean-2"]) == 3
    assert (root / "LibriSpeech" / "dev-clean-2" / ".completed").is_file()
    assert asked and all(u == "http://www.openslr.org/resources/31/dev-clean-2.tar.gz" for u in asked)
    # a second run finds lhotse's `.completed` marker: nothing is fetched again
    asked.clear()
    prepare_librispeech(tmp_path / "data2", given_root, "dev-clean-2", download=True)
    assert asked == []


def test_download_into_a_renamed_folder_asks_for_the_name_the_archive_unpacks_to(tmp_path):
    renamed = (make_librispeech(tmp_path / "dl", "dev-clean") / "LibriSpeech").rename(tmp_path / "dl" / "ls")
    proper = tmp_path / "dl" / "LibriSpeech"
    with pytest.raises(UserError) as e:  # before any fetch: the no_network guard would fail the test
        prepare_librispeech(tmp_path / "data", renamed, "dev-clean-2", download=True)
    assert (f"rename {renamed} to {proper} and run: asr prepare librispeech --root {proper} --parts dev-clean-2 "
            f"--download --out {tmp_path / 'data'}") in str(e.value)


def test_corrupt_archive_is_rejected_before_unpacking(tmp_path, monkeypatch):
    root = tmp_path / "dl"
    root.mkdir()
    (root / "dev-clean-2.tar.gz").write_bytes(b"\x1f\x8b" + b"not really a tarball" * 100)
    fake_server_has_nothing_more(monkeypatch)
    with pytest.raises(UserError) as e:  # the real md5 from openslr's list
        prepare_librispeech(tmp_path / "data", root, "dev-clean-2", download=True)
    msg = str(e.value)
    assert "corrupt or incomplete" in msg and "6d7ab67ac6a1d2c993d050e16d61080d" in msg and "delete it" in msg
    assert not (root / "LibriSpeech").exists()


def test_known_checksums_cover_every_librispeech_part():
    from lhotse.recipes.librispeech import LIBRISPEECH, MINI_LIBRISPEECH

    for part in LIBRISPEECH + MINI_LIBRISPEECH:
        algo, digest = public.KNOWN_CHECKSUMS[f"{part}.tar.gz"]
        assert algo == "md5" and len(digest) == 32


# ---- yes/no ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("given", GIVEN)
def test_yesno(tmp_path, given):
    names = ["_".join(bits) for bits in itertools.islice(itertools.product("01", repeat=8), 60)]
    for i, name in enumerate(names):
        tone(tmp_path / "dl" / "waves_yesno" / f"{name}.wav", 0.2, 8000, seed=i % 5)
    root = root_as(given, tmp_path / "dl", "waves_yesno")
    cuts = prepare_yesno(tmp_path / "data", root)
    assert len(cuts["train"]) == len(cuts["test"]) == 30
    cut = cuts["train"][0]
    assert cut.sampling_rate == 8000 and set(cut.supervisions[0].text.split()) <= {"yes", "no"}
    # an incomplete folder is a clear error, not lhotse's bare assert
    next((tmp_path / "dl" / "waves_yesno").glob("*.wav")).unlink()
    with pytest.raises(UserError, match="59 .wav files, expected 60") as e:
        prepare_yesno(tmp_path / "data-again", root)
    assert f"delete it and run: asr prepare yesno --root {root} --download" in str(e.value)


# ---- LJ Speech -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("given", GIVEN)
def test_ljspeech_uses_the_normalised_column_and_holds_out_dev_and_test(tmp_path, given):
    corpus = tmp_path / "dl" / "LJSpeech-1.1"
    rows = []
    for i in range(6):
        uid = f"LJ001-{i + 1:04d}"
        tone(corpus / "wavs" / f"{uid}.wav", 0.4, 22050, seed=i)
        rows.append(f"{uid}|Printed in {1884 + i}, Dr. Smith said.|"
                    f"Printed in eighteen eighty-{i}, Doctor Smith said.\n")
    (corpus / "metadata.csv").write_text("".join(rows))
    cuts = prepare_ljspeech(tmp_path / "data", root_as(given, tmp_path / "dl", "LJSpeech-1.1"))
    assert [len(cuts[s]) for s in ("train", "dev", "test")] == [4, 1, 1]
    all_ids = set(cuts["train"].ids) | set(cuts["dev"].ids) | set(cuts["test"].ids)
    assert len(all_ids) == 6
    text = cuts["train"][0].supervisions[0].text
    assert text.startswith("printed in eighteen eighty ") and text.endswith("doctor smith said")


# ---- TED-LIUM 3 ----------------------------------------------------------------------------------------------
STM = """\
TalkA_2010 1 TalkA_2010 0.00 0.40 <o,f0,male> ignore_time_segment_in_scoring
TalkA_2010 1 TalkA_2010 0.50 1.70 <o,f0,male> so they 're telling me <unk> about it
TalkA_2010 1 TalkA_2010 1.80 2.90 <o,f0,male> {NOISE} and that 's the point
"""


@pytest.mark.parametrize("given", GIVEN)
def test_tedlium_segments_sph_audio_read_without_sph2pipe(tmp_path, capsys, given):
    legacy = tmp_path / "dl" / "TEDLIUM_release-3" / "legacy"
    for split in ("dev", "test"):
        wav = tmp_path / f"{split}.wav"
        tone(wav, 3.0, 16000)
        (legacy / split / "sph").mkdir(parents=True)
        subprocess.run(["sox", str(wav), str(legacy / split / "sph" / "TalkA_2010.sph")], check=True)
        (legacy / split / "stm").mkdir()
        (legacy / split / "stm" / "TalkA_2010.stm").write_text(STM)
    root = root_as(given, tmp_path / "dl", "TEDLIUM_release-3")
    prepared = prepare_tedlium(tmp_path / "data", root)  # no --splits: the two that are there, said so
    assert sorted(prepared) == ["dev", "test"]
    assert (f"tedlium: preparing dev, test, found in {legacy.parent} (choose with --splits)"
            in capsys.readouterr().out.splitlines())
    cuts = prepared["dev"]
    assert [c.supervisions[0].text for c in cuts] == ["so they're telling me about it", "and that's the point"]
    first = sorted(cuts, key=lambda c: c.start)[0]
    assert first.start == pytest.approx(0.5) and first.duration == pytest.approx(1.2)
    assert first.load_audio().shape == (1, 19200)  # sliced from the .sph by soundfile
    with pytest.raises(UserError, match="train sph") as e:
        prepare_tedlium(tmp_path / "data", root, ["train"])
    assert f"asr prepare tedlium --root {root} --download --out {tmp_path / 'data'}" in str(e.value)


# ---- Common Voice ------------------------------------------------------------------------------------------------
CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment\n"


@pytest.mark.parametrize("given", ["parent", "release", "language"])
def test_commonvoice_mp3_clips(tmp_path, monkeypatch, capsys, given):
    # lhotse reads the clips in spawned processes (~4 s to start each); threads run the same code in the test
    from lhotse.recipes import commonvoice as recipe

    monkeypatch.setattr(recipe, "ProcessPoolExecutor", lambda max_workers, mp_context: ThreadPoolExecutor(max_workers))
    lang = tmp_path / "dl" / "cv-corpus-13.0-2023-03-09" / "en"
    (lang / "clips").mkdir(parents=True)
    sentences = {"train": ["Hello there, World!", "It's a test."], "dev": ["Good morning."], "test": ["Bye now!"]}
    n = 0
    for split, texts in sentences.items():
        rows = [CV_HEADER]
        for text in texts:
            clip = f"common_voice_en_{n}.mp3"
            tone(tmp_path / "tmp.wav", 0.6, 16000, seed=n)
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(tmp_path / "tmp.wav"), "-ar", "48000",
                            str(lang / "clips" / clip)], check=True)
            rows.append(f"spk{n % 2}\t{clip}\t{text}\t2\t0\ttwenties\tmale\t\t\ten\t\n")
            n += 1
        (lang / f"{split}.tsv").write_text("".join(rows))
    root = {"parent": tmp_path / "dl", "release": lang.parent, "language": lang}[given]
    cuts = prepare_commonvoice(tmp_path / "data", root, num_jobs=1)  # no --language: the one there, said so
    assert (f"commonvoice: preparing en, found in {lang.parent} (choose with --language)"
            in capsys.readouterr().out.splitlines())
    assert sorted(c.supervisions[0].text for c in cuts["train"]) == ["hello there world", "it's a test"]
    cut = cuts["dev"][0]
    assert cut.sampling_rate == 48000 and cut.duration == pytest.approx(0.6, abs=0.06)
    assert cut.load_audio().shape[0] == 1
    with pytest.raises(UserError, match="commonvoice.mozilla.org") as e:
        prepare_commonvoice(tmp_path / "data2", root, "cy")
    assert f"asr prepare commonvoice --root {tmp_path / 'dl'} --language cy --out {tmp_path / 'data2'}" in str(e.value)


def test_commonvoice_with_several_languages_asks_for_one(tmp_path):
    release = tmp_path / "cv-corpus-13.0-2023-03-09"
    for language in ("en", "cy"):
        (release / language / "clips").mkdir(parents=True)
    with pytest.raises(UserError) as e:
        prepare_commonvoice(tmp_path / "data", release)
    assert str(e.value) == (f"{release} holds the languages cy, en; choose one with: "
                            f"asr prepare commonvoice --root {release} --language cy --out {tmp_path / 'data'}")


def test_librispeech_lm_files_are_fetched_verified_and_not_fetched_again(tmp_path, monkeypatch, capsys):
    from asr.corpora import librispeech_lm

    out = tmp_path / "lm"
    out.mkdir()
    arpa = out / "3-gram.pruned.1e-7.arpa.gz"
    arpa.write_bytes(b"a finished earlier download")
    md5 = hashlib.md5(arpa.read_bytes()).hexdigest()
    asked = fake_server_has_nothing_more(monkeypatch)
    # the real checksum: this fixture is not the real file, so it is refused and set aside, never kept
    assert main(["prepare", "librispeech-lm", "--out", str(out), "--files", "3-gram.pruned.1e-7.arpa.gz"]) != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "arrived corrupt" in err and err.endswith(f"--files 3-gram.pruned.1e-7.arpa.gz` again")
    assert asked == ["http://www.openslr.org/resources/11/3-gram.pruned.1e-7.arpa.gz"]
    assert not arpa.exists() and (out / "3-gram.pruned.1e-7.arpa.gz.bad").is_file()
    # a file whose checksum is the known one is kept as it is and not fetched again
    (out / "3-gram.pruned.1e-7.arpa.gz.bad").rename(arpa)
    monkeypatch.setitem(public.KNOWN_CHECKSUMS, "3-gram.pruned.1e-7.arpa.gz", ("md5", md5))
    asked.clear()
    assert librispeech_lm.prepare_librispeech_lm(out, "3-gram.pruned.1e-7.arpa.gz") == {}
    assert asked == [] and arpa.read_bytes() == b"a finished earlier download"
    with pytest.raises(UserError, match="unknown LibriSpeech LM file"):
        librispeech_lm.prepare_librispeech_lm(out, "5-gram.arpa.gz")
