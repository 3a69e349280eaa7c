"""Tests of emotion2vec.audio: reading, validation, resampling, listing, writing."""

import numpy as np
import pytest
import soundfile
import torch

from emotion2vec.audio import (
    AUDIO_EXTENSIONS,
    AudioError,
    audio_info,
    duration_seconds,
    find_audio_files,
    is_hidden_path,
    read_audio,
    write_audio,
)


def _sine(freq, seconds, sr, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(wav, sr):
    spectrum = np.abs(np.fft.rfft(np.asarray(wav)))
    return np.argmax(spectrum) * sr / len(wav)


def test_read_pcm16_mono_roundtrip(tmp_path):
    data = _sine(440, 0.5, 16000)
    soundfile.write(str(tmp_path / "a.wav"), data, 16000, subtype="PCM_16")
    wav = read_audio(tmp_path / "a.wav")
    assert wav.dtype == torch.float32 and wav.ndim == 1 and wav.shape[0] == 8000
    assert np.allclose(wav.numpy(), data, atol=1.0 / 32768 + 1e-6)


def test_read_downmixes_by_mean(tmp_path):
    left, right = _sine(300, 0.25, 16000), np.full(4000, 0.25, np.float32)
    soundfile.write(
        str(tmp_path / "st.wav"), np.stack([left, right], 1), 16000, subtype="FLOAT"
    )
    wav = read_audio(tmp_path / "st.wav")
    assert wav.shape == (4000,)
    assert np.allclose(wav.numpy(), (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_read_resamples_to_16k_keeping_pitch(tmp_path, sr):
    soundfile.write(str(tmp_path / "x.flac"), _sine(1000, 1.0, sr), sr)
    wav = read_audio(tmp_path / "x.flac", target_sr=16000)
    assert abs(wav.shape[0] - 16000) <= 1
    assert abs(_peak_hz(wav, 16000) - 1000) < 5


def test_read_keeps_rate_when_target_none(tmp_path):
    soundfile.write(str(tmp_path / "x.ogg"), _sine(500, 0.5, 22050), 22050)
    assert read_audio(tmp_path / "x.ogg", target_sr=None).shape[0] == 11025


def test_audio_error_is_value_error_with_path(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(ValueError) as info:
        read_audio(missing)
    error = info.value
    assert isinstance(error, AudioError)
    assert error.path == str(missing)
    assert str(missing) in str(error) and "not found" in str(error)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "empty file"),
        (b"this is not audio at all" * 10, "cannot"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cannot"),  # truncated header
    ],
)
def test_undecodable_files_raise_audio_error(tmp_path, content, problem):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    for function in (read_audio, audio_info, duration_seconds):
        with pytest.raises(AudioError, match=problem) as info:
            function(path)
        assert str(path) in str(info.value)


def test_zero_sample_file(tmp_path):
    path = tmp_path / "zero.wav"
    soundfile.write(str(path), np.zeros(0, np.float32), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="no audio samples"):
        read_audio(path)
    with pytest.raises(AudioError, match="no audio samples"):
        audio_info(path)


def test_nan_and_inf_rejected(tmp_path):
    data = np.zeros(1600, np.float32)
    data[10], data[20] = np.nan, np.inf
    path = tmp_path / "nan.wav"
    soundfile.write(str(path), data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or Inf"):
        read_audio(path)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="not a regular file"):
        read_audio(tmp_path)


def test_audio_info_and_duration_read_header(tmp_path):
    path = tmp_path / "st.wav"
    soundfile.write(str(path), np.zeros((24000, 2), np.float32), 48000, subtype="PCM_16")
    assert audio_info(path) == (24000, 48000, 2)
    assert duration_seconds(path) == 0.5


def test_write_audio_pcm16_clips_and_is_atomic(tmp_path):
    path = tmp_path / "deep" / "dir" / "out.wav"
    write_audio(path, torch.tensor([0.0, 2.0, -3.0, 0.5]), sr=16000)
    info = soundfile.info(str(path))
    assert (info.subtype, info.samplerate, info.channels) == ("PCM_16", 16000, 1)
    data, _ = soundfile.read(str(path), dtype="float32")
    assert data.max() <= 1.0 and data.min() >= -1.0 and data.max() > 0.99
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]


def test_write_audio_formats_and_channels(tmp_path):
    stereo = np.stack([_sine(200, 0.1, 16000), _sine(400, 0.1, 16000)], 1)
    write_audio(tmp_path / "s.flac", stereo, sr=16000)
    assert audio_info(tmp_path / "s.flac") == (1600, 16000, 2)
    write_audio(tmp_path / "m.ogg", stereo[:, 0], sr=16000)
    assert audio_info(tmp_path / "m.ogg")[1:] == (16000, 1)


@pytest.mark.parametrize(
    "path, wav, problem",
    [
        ("x.mp3", np.zeros(10), "cannot write suffix"),
        ("x.wav", np.zeros(0), "non-empty"),
        ("x.wav", np.zeros((2, 2, 2)), "non-empty"),
        ("x.wav", np.array([0.0, np.nan]), "NaN or Inf"),
    ],
)
def test_write_audio_errors(tmp_path, path, wav, problem):
    with pytest.raises(AudioError, match=problem):
        write_audio(tmp_path / path, wav)
    assert not list(tmp_path.iterdir())


def test_is_hidden_path():
    assert is_hidden_path("._a.wav") and is_hidden_path("a/.cache/b.wav")
    assert is_hidden_path("__MACOSX/Actor_01/a.wav")
    assert not is_hidden_path("a/b.wav") and not is_hidden_path("./a/b.wav")


def _tree(root):
    tone = _sine(300, 0.05, 16000)
    for rel in ["spk1/a.wav", "spk1/b.FLAC", "spk2/c.ogg", "spk2/sub/d.wav", "loose.wav"]:
        write_audio(root / rel, tone)
    (root / "spk1" / "._a.wav").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    (root / "spk1" / ".DS_Store").write_bytes(b"junk")
    (root / "__MACOSX" / "spk1").mkdir(parents=True)
    (root / "__MACOSX" / "spk1" / "._a.wav").write_bytes(b"junk")
    (root / ".hidden").mkdir()
    write_audio(root / ".hidden" / "e.wav", tone)
    (root / "spk2" / "empty.wav").write_bytes(b"")
    (root / "spk2" / "notes.txt").write_text("not audio")
    (root / "spk2" / "song.mp3").write_bytes(b"ID3")


def test_find_audio_files_in_folder(tmp_path):
    _tree(tmp_path)
    found = find_audio_files(tmp_path)
    rels = [rel.as_posix() for _, rel in found]
    assert rels == ["loose.wav", "spk1/a.wav", "spk1/b.FLAC", "spk2/c.ogg", "spk2/sub/d.wav"]
    assert all(path.is_file() for path, _ in found)
    assert [p for p, _ in found] == sorted((p for p, _ in found), key=str)


def test_find_audio_files_mixed_inputs_dedup_and_explicit(tmp_path):
    _tree(tmp_path)
    explicit = tmp_path / "spk2" / "song.mp3"
    found = find_audio_files([tmp_path / "spk2", explicit, str(tmp_path / "spk2" / "c.ogg")])
    rels = sorted(rel.as_posix() for _, rel in found)
    assert rels == ["c.ogg", "song.mp3", "sub/d.wav"]  # c.ogg only once
    assert len(found) == 3


def test_find_audio_files_extensions_and_missing_input(tmp_path):
    _tree(tmp_path)
    only_wav = find_audio_files(str(tmp_path), extensions=["wav"])
    assert [rel.as_posix() for _, rel in only_wav] == [
        "loose.wav",
        "spk1/a.wav",
        "spk2/sub/d.wav",
    ]
    with pytest.raises(AudioError, match="input not found"):
        find_audio_files([tmp_path / "missing_dir"])
    assert AUDIO_EXTENSIONS == (".wav", ".flac", ".ogg")
