"""Audio in (any format, rate, channel count; clear errors) and long-form segmentation (bounded reads)."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from asr.audio import ArraySource, FileSource, find_audio, load_audio, open_audio
from asr.errors import UserError
from asr.inference.segments import BLOCK_S, SegmentOptions, find_segments, frame_energies

SR = 16_000


def tone(seconds: float, sr: int, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def bursts(spec: list[tuple[float, float]], sr: int = SR, total: float | None = None, noise_db: float = -70):
    """Tone bursts at (start, end) seconds over faint noise: a stand-in for speech with known pauses."""
    total = total or spec[-1][1] + 1.0
    rng = np.random.default_rng(0)
    x = (10 ** (noise_db / 20) * rng.standard_normal(round(total * sr))).astype(np.float32)
    for a, b in spec:
        x[round(a * sr) : round(b * sr)] += tone(b - a, sr)[: round(b * sr) - round(a * sr)]
    return x


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


def test_segments_follow_pauses_and_skip_silence():
    spec = [(1.0, 2.5), (2.8, 3.5), (5.0, 6.0), (9.0, 9.05)]  # a 0.3 s pause, a long one, a 50 ms click
    segs = find_segments(ArraySource(bursts(spec), SR), SegmentOptions(min_silence_s=0.25, pad_s=0.1))
    assert len(segs) == 3  # the click is dropped
    for seg, (a, b) in zip(segs, spec):
        assert seg.start == pytest.approx(a - 0.1, abs=0.03)
        assert seg.end == pytest.approx(b + 0.1, abs=0.03)


def test_long_speech_is_cut_at_its_quietest_point():
    # 50 s of "speech" with 0.15 s dips (shorter than a pause) every 7 s: pieces of <= 20 s cut in a dip.
    spec, t = [], 0.5
    while t + 7 < 50:
        spec.append((t, t + 6.85))
        t += 7.0
    x = bursts(spec, total=51.0)
    segs = find_segments(ArraySource(x, SR), SegmentOptions(max_segment_s=20.0, min_silence_s=0.3))
    assert len(segs) >= 3 and all(s.duration <= 20.0 + 1e-6 for s in segs)
    for left, right in zip(segs, segs[1:]):
        assert left.end == right.start
        assert any(b <= left.end <= b + 0.15 + 0.02 for _, b in spec)  # the cut lies in a dip


def test_silence_and_noise_have_no_segments_unless_vad_is_off():
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal(30 * SR)).astype(np.float32)
    silence = np.zeros(30 * SR, dtype=np.float32)
    assert find_segments(ArraySource(silence, SR)) == []
    assert find_segments(ArraySource(noise, SR)) == []
    windows = find_segments(ArraySource(noise, SR), SegmentOptions(vad=False, max_segment_s=20.0))
    assert windows[0].start == 0 and windows[-1].end == pytest.approx(30.0)
    assert all(w.duration <= 20.0 for w in windows)


def test_long_files_are_read_in_bounded_blocks(tmp_path):
    path = tmp_path / "long.flac"
    spec = [(s, s + 2.0) for s in np.arange(1.0, 175.0, 3.0)]
    sf.write(path, bursts(spec, total=180.0), SR, subtype="PCM_16")
    reads = []
    src = FileSource(path)
    original = src.read
    src.read = lambda a=0, b=None: reads.append((b or src.num_samples) - a) or original(a, b)
    energy = frame_energies(src)
    assert len(energy) == 18_000
    assert max(reads) <= BLOCK_S * SR  # never the whole file at once
    segs = find_segments(src, SegmentOptions(), energy)
    assert len(segs) == len(spec)
    src.close()
