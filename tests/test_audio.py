"""Audio in (any format, rate, channel count; clear errors), levels (DC, level, bad samples) and segmentation
(whole when short, Silero VAD when long, bounded reads)."""

import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from asr.audio import (
    ArraySource,
    FileSource,
    find_audio,
    find_audio_inputs,
    load_audio,
    open_audio,
)
from asr.corpora import fsdd
from asr.errors import UserError
from asr.inference import vad
from asr.inference.levels import BLOCK_S, MODEL_LEVEL_DBFS, measure
from asr.inference.segments import SegmentOptions, find_segments

SR = 16_000


def tone(seconds: float, sr: int, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def bursts(spec: list[tuple[float, float]], sr: int = SR, total: float | None = None, noise_db: float = -70):
    """Tone bursts at (start, end) seconds over faint noise: a signal with known loud and quiet stretches."""
    total = total or spec[-1][1] + 1.0
    rng = np.random.default_rng(0)
    x = (10 ** (noise_db / 20) * rng.standard_normal(round(total * sr))).astype(np.float32)
    for a, b in spec:
        x[round(a * sr) : round(b * sr)] += tone(b - a, sr)[: round(b * sr) - round(a * sr)]
    return x


def fsdd_digits(count: int) -> list[np.ndarray]:
    """`count` real FSDD recordings (one spoken digit each, 8 kHz) at 16 kHz; skips when FSDD is not here."""
    root = fsdd.default_root()
    if root is None:
        pytest.skip("FSDD recordings are not available (../shared/data/fsdd or $ASR_FSDD)")
    paths = sorted((root / "recordings").glob("*_[0-4].wav"))[:count]  # the test takes
    return [soxr.resample(sf.read(p, dtype="float32")[0], 8000, SR).astype(np.float32) for p in paths]


def spoken(pauses: list[float], noise_db: float = -60, seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """FSDD digits, each after a pause of the given length, over faint noise -> (S,), [(start, end)] of each
    digit's sound."""
    digits = fsdd_digits(len(pauses))
    rng = np.random.default_rng(seed)
    pieces, spans, t = [], [], 0.0
    for pause, d in zip(pauses, digits):
        nz = np.flatnonzero(np.abs(d) > 0.02 * np.abs(d).max())  # where the digit is audible
        pieces += [np.zeros(round(pause * SR), np.float32), d]
        t += pause
        spans.append((t + nz[0] / SR, t + (nz[-1] + 1) / SR))
        t += len(d) / SR
    pieces.append(np.zeros(SR, np.float32))
    x = np.concatenate(pieces)
    return (x + 10 ** (noise_db / 20) * rng.standard_normal(len(x))).astype(np.float32), spans


@pytest.mark.parametrize("ext,subtype,sr", [
    ("wav", "PCM_16", 44_100), ("flac", "PCM_24", 22_050), ("ogg", "VORBIS", 44_100), ("opus", "OPUS", 48_000),
    ("mp3", "MPEG_LAYER_III", 44_100),
])
def test_reads_formats_any_rate_and_channels_as_mono_16k(tmp_path, ext, subtype, sr):
    left = tone(1.0, sr)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)  # (S, 2): the mean is half the left channel
    path = tmp_path / f"x.{ext}"
    sf.write(path, stereo, sr, subtype=subtype, format="OGG" if ext == "opus" else None)
    audio = load_audio(path, SR)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - SR) < 0.06 * SR  # mp3 pads a frame or two
    rms = np.sqrt(np.mean(audio[SR // 10 : SR // 2] ** 2))
    assert rms == pytest.approx(0.3 / 2 / np.sqrt(2), rel=0.1)  # mixed down, level kept
    spectrum = np.abs(np.fft.rfft(audio[: SR // 2]))
    assert abs(np.argmax(spectrum) * 2 - 440) <= 4  # still a 440 Hz tone after resampling


def test_ffmpeg_decodes_what_soundfile_cannot(tmp_path):
    wav = tmp_path / "x.wav"
    sf.write(wav, tone(1.5, 22_050), 22_050)
    m4a = tmp_path / "x.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    with pytest.raises(sf.LibsndfileError):
        sf.info(m4a)
    with open_audio(m4a) as src:
        assert src.sample_rate == SR
        decoded = src._decoded
        assert decoded is not None and decoded.exists()
        audio = src.read()
    assert not decoded.exists()  # the temporary WAV is removed on close
    assert abs(len(audio) / SR - 1.5) < 0.1
    assert np.sqrt(np.mean(audio[SR // 4 : SR] ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.15)


def test_unreadable_files_raise_user_errors_naming_file_and_reason(tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 4)
    with pytest.raises(UserError, match="corrupt.wav") as e:
        open_audio(bad)
    assert "cannot read" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError, match="no such file"):
        open_audio(tmp_path / "missing.flac")


def test_waveform_sources_accept_channels_first_and_reject_integers():
    x = np.stack([tone(0.5, 8000), tone(0.5, 8000)])  # (C, S)
    src = ArraySource(x, 8000)
    assert src.num_samples == 4000 and src.read_seconds(0.0, 0.5, SR).shape == (8000,)
    with pytest.raises(UserError, match="floating point"):
        ArraySource((x * 32768).astype(np.int16), 8000)


def test_find_audio_walks_folders_and_globs_and_reports_misses(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for p in ["a/1.wav", "a/b/2.flac", "a/notes.txt", "3.wav"]:
        (tmp_path / p).write_bytes(b"x")
    files, problems = find_audio([str(tmp_path / "a"), str(tmp_path / "*.wav"), str(tmp_path / "nope*.mp3")])
    assert [f.name for f in files] == ["1.wav", "2.flac", "3.wav"]
    assert len(problems) == 1 and "nope*.mp3" in problems[0]


def test_find_audio_keeps_the_root_each_file_was_found_under(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for p in ["in/x.wav", "in/sub/x.wav", "in/sub/y.flac"]:
        (tmp_path / p).write_bytes(b"x")
    inputs, _ = find_audio_inputs([str(tmp_path / "in"), str(tmp_path / "in" / "**" / "y.*")])
    assert [str(i.relative) for i in inputs] == ["sub/x.wav", "sub/y.flac", "x.wav"]  # y.flac found once
    inputs, _ = find_audio_inputs([str(tmp_path / "in" / "sub" / "x.wav"), str(tmp_path / "in" / "*" / "*.flac")])
    assert [str(i.relative) for i in inputs] == ["x.wav", "sub/y.flac"]  # a plain file: its own folder


def test_levels_remove_dc_and_are_the_same_at_any_level_and_offset():
    x = np.concatenate(fsdd_digits(3))
    clean = measure(ArraySource(x, SR))
    quiet = measure(ArraySource(x * 10 ** (-50 / 20) + 0.4, SR))  # 50 dB down on a 0.4 offset
    assert quiet.dc == pytest.approx(0.4, abs=1e-4)
    loud = clean.energy > clean.speech_dbfs - 40
    assert np.allclose(quiet.energy[loud], clean.energy[loud] - 50, atol=0.1)  # the offset does not show
    assert quiet.speech_dbfs == pytest.approx(clean.speech_dbfs - 50, abs=0.1)
    out = quiet.for_model(x * 10 ** (-50 / 20) + 0.4)
    assert abs(out.mean()) < 1e-4 and MODEL_LEVEL_DBFS[0] - 0.1 <= measure(ArraySource(out, SR)).speech_dbfs
    assert clean.model_gain_db == 0.0  # a level the model was trained on is left as it is
    assert not clean.silent and measure(ArraySource(np.full(SR, 0.4, np.float32), SR)).silent


def test_non_finite_samples_are_counted_in_waveforms_and_refused_in_files(tmp_path):
    x = np.zeros(3 * SR, np.float32)
    x[SR + 5], x[2 * SR] = np.nan, np.inf
    levels = measure(ArraySource(x, SR))
    assert levels.nonfinite == 2 and levels.first_nonfinite_s == pytest.approx((SR + 5) / SR)
    assert np.isfinite(levels.energy).all()
    sf.write(tmp_path / "bad.wav", x, SR, subtype="FLOAT")
    with open_audio(tmp_path / "bad.wav") as src, pytest.raises(UserError, match=r"bad.wav: .*NaN or infinite "
                                                                                r"\(the first at 1.000 s\)"):
        measure(src)


def test_a_short_recording_is_one_whole_segment_whatever_it_holds():
    rng = np.random.default_rng(0)
    speech = np.concatenate([np.zeros(SR // 2, np.float32), fsdd_digits(1)[0]])
    noise = (0.05 * rng.standard_normal(5 * SR)).astype(np.float32)
    for x in (speech, noise, tone(19.0, SR)):
        assert find_segments(ArraySource(x, SR)) == [find_segments(ArraySource(x, SR))[0]]
        [seg] = find_segments(ArraySource(x, SR))
        assert seg.start == 0.0 and seg.end == pytest.approx(len(x) / SR)
    assert find_segments(ArraySource(np.zeros(5 * SR, np.float32), SR)) == []  # digital silence
    assert find_segments(ArraySource(np.zeros(0, np.float32), SR)) == []


def test_long_recordings_are_segmented_at_pauses_by_silero():
    pauses = [1.0, 0.8, 2.0, 0.7, 1.5, 0.9] * 4  # 24 digits, ~55 s
    x, spans = spoken(pauses)
    for i in (2, 14):  # a 20 ms click in the middle of two 2 s pauses
        mid = round((spans[i - 1][1] + spans[i][0]) / 2 * SR)
        x[mid : mid + SR // 50] += 0.3 * np.sign(np.sin(np.arange(SR // 50)))
    segs = find_segments(ArraySource(x, SR), SegmentOptions(pad_s=0.1))
    assert len(segs) == len(spans)  # one per digit (every pause is long enough); the clicks are not speech
    for seg, (a, b) in zip(segs, spans):
        assert seg.start <= a + 0.05 and seg.end >= b - 0.05  # the digit is inside its segment...
        assert seg.start >= a - 0.35 and seg.end <= b + 0.35  # ...and the segment is not much more
    assert all(s.end <= t.start for s, t in zip(segs, segs[1:]))


def test_vad_streams_agree_with_one_sequential_pass():
    """A block is cut into streams run side by side (vad.py). Against the package's own sequential
    `get_speech_timestamps`, the speech found must be the same but for a few windows: a pause close to
    min_silence_s may split one and not the other (a recurrent state never quite forgets where it began)."""
    x, _ = spoken([0.8, 0.3, 1.2, 0.35, 0.6] * 6, noise_db=-40)
    levels = measure(ArraySource(x, SR))
    opts = SegmentOptions()
    ours = vad.speech_regions(ArraySource(x, SR), levels, opts)
    with vad._threads(1):
        ref = vad._silero().get_speech_timestamps(
            torch.from_numpy(levels.for_vad(x)), vad._model(), threshold=opts.vad_threshold,
            min_speech_duration_ms=100, min_silence_duration_ms=300, speech_pad_ms=200, return_seconds=False)
    ref = [(r["start"] / SR, r["end"] / SR) for r in ref]

    def mask(regions):  # (T,) speech per 10 ms
        m = np.zeros(len(x) // 160, bool)
        for a, b in regions:
            m[round(a * 100) : round(b * 100)] = True
        return m

    assert len(ref) >= 15 and abs(len(ours) - len(ref)) <= 2
    assert np.mean(mask(ours) != mask(ref)) < 0.03
    assert sum(b - a for a, b in ours) == pytest.approx(sum(b - a for a, b in ref), rel=0.05)


def test_the_vad_leaves_the_thread_count_as_it_was():
    before = torch.get_num_threads()
    x, _ = spoken([1.0] * 25)
    assert len(x) / SR > SegmentOptions().max_segment_s
    find_segments(ArraySource(x, SR))
    assert torch.get_num_threads() == before


def test_long_speech_is_cut_at_its_quietest_point():
    # 50 s with 0.15 s dips (shorter than a pause) every 7 s, decoded in windows: pieces of <= 20 s cut in a dip.
    spec, t = [], 0.5
    while t + 7 < 50:
        spec.append((t, t + 6.85))
        t += 7.0
    x = bursts(spec, total=51.0)
    segs = find_segments(ArraySource(x, SR), SegmentOptions(max_segment_s=20.0, vad=False))
    assert len(segs) >= 3 and all(s.duration <= 20.0 + 1e-6 for s in segs)
    assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(51.0)
    for left, right in zip(segs, segs[1:]):
        assert left.end == right.start
        assert any(b <= left.end <= b + 0.15 + 0.02 for _, b in spec)  # the cut lies in a dip


def test_long_silence_has_no_segments_and_long_noise_is_decoded_whole():
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal(30 * SR)).astype(np.float32)
    silence = np.zeros(30 * SR, dtype=np.float32)
    assert find_segments(ArraySource(silence, SR)) == []
    for opts in (SegmentOptions(), SegmentOptions(vad=False)):  # the VAD hears no speech: windows, not nothing
        windows = find_segments(ArraySource(noise, SR), opts)
        assert windows[0].start == 0 and windows[-1].end == pytest.approx(30.0)
        assert all(w.duration <= 20.0 for w in windows)
        assert all(a.end == b.start for a, b in zip(windows, windows[1:]))


def test_long_files_are_read_in_bounded_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(vad, "STREAMS", 8)  # VAD blocks of 16 s, so this file takes several
    path = tmp_path / "long.flac"
    x, spans = spoken([1.0, 1.5, 0.8] * 20)  # 60 digits, ~2 minutes
    sf.write(path, x, SR, subtype="PCM_16")
    reads = []
    src = FileSource(path)
    original = src.read
    src.read = lambda a=0, b=None: reads.append((b or src.num_samples) - a) or original(a, b)
    levels = measure(src)
    assert len(levels.energy) == len(x) // 160
    assert max(reads) <= BLOCK_S * SR  # never the whole file at once
    reads.clear()
    segs = find_segments(src, SegmentOptions(), levels)
    block = vad.STREAMS * vad.STREAM_WINDOWS * vad.WINDOW
    assert max(reads) <= block + vad.WARMUP_WINDOWS * vad.WINDOW and len(reads) >= 5  # the VAD's blocks
    held = [[i for i, (a, b) in enumerate(spans) if a < s.end and b > s.start] for s in segs]
    assert all(len(h) == 1 for h in held)  # one digit a segment, across the VAD's block edges
    assert len(segs) >= 0.95 * len(spans)  # Silero misses a few digits in a hundred (1 of the 200 FSDD test takes)
    src.close()
