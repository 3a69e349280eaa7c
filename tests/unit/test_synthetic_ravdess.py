"""The synthetic RAVDESS-layout corpus and the real RAVDESS preparation."""

import numpy as np
import pytest
import soundfile as sf

from emotion2vec.corpora import prepare_corpus
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import read_manifest
from emotion2vec.corpora.ravdess import parse_ravdess_name
from emotion2vec.corpora.synthetic import (
    PROSODY,
    make_speaker,
    synthesize_utterance,
    write_synthetic_ravdess,
)


def pitch_of(wav, sr):
    """Crude F0 estimate: autocorrelation peak in 70-500 Hz."""
    x = wav - wav.mean()
    corr = np.correlate(x[: sr // 2], x[: sr // 2], "full")[sr // 2 - 1 :]
    lo, hi = sr // 500, sr // 70
    return sr / (lo + np.argmax(corr[lo:hi]))


def test_emotion_changes_prosody_not_content_seed():
    spk = make_speaker(1)
    sr = 16000
    neutral = synthesize_utterance(spk, PROSODY["01"], 1.0, seed=5, sample_rate=sr)
    sad = synthesize_utterance(spk, PROSODY["04"], 1.0, seed=5, sample_rate=sr)
    fearful = synthesize_utterance(spk, PROSODY["06"], 1.0, seed=5, sample_rate=sr)
    assert len(sad) > len(neutral) > len(fearful)  # speaking rate
    assert pitch_of(fearful, sr) > pitch_of(neutral, sr) > pitch_of(sad, sr)
    again = synthesize_utterance(spk, PROSODY["01"], 1.0, seed=5, sample_rate=sr)
    assert np.array_equal(neutral, again)
    other = synthesize_utterance(spk, PROSODY["01"], 1.0, seed=6, sample_rate=sr)
    assert len(other) != len(neutral) or not np.array_equal(other, neutral)


def test_speakers_differ():
    assert make_speaker(2).f0 > 1.4 * make_speaker(1).f0
    voices = {(round(make_speaker(a).f0), round(make_speaker(a).tract, 2)) for a in range(1, 9)}
    assert len(voices) == 8


def test_corpus_layout_and_prepare(tmp_path):
    root = write_synthetic_ravdess(tmp_path / "RAVDESS", actors=[1, 2], emotions=["01", "05"],
                                   repetitions=1, sample_rate=48000)
    files = sorted(p.name for p in root.rglob("*.wav"))
    # neutral: normal only; angry: normal + strong; 2 statements, 1 repetition
    assert len(files) == 2 * (2 + 4)
    assert all(parse_ravdess_name(f) for f in files)
    info = sf.info(next(root.rglob("*.wav")))
    assert info.samplerate == 48000 and info.subtype == "PCM_16"
    # junk a real extraction may contain
    (root / "Actor_01" / "._03-01-05-01-01-01-01.wav").write_bytes(b"\0" * 10)
    (root / "Actor_01" / "03-02-05-01-01-01-01.wav").write_bytes(b"song file")
    mirror = root / "mirror" / "Actor_02"
    mirror.mkdir(parents=True)
    (mirror / files[-1]).write_bytes((root / "Actor_02" / files[-1]).read_bytes())
    (root / "Actor_02" / "03-01-01-01-02-02-02.wav").write_bytes(b"RIFF broken")
    csv = prepare_corpus("ravdess", root, tmp_path / "prep")
    rows = read_manifest(csv)
    assert len(rows) == 12
    assert {r["label"] for r in rows} == {"neutral", "angry"}
    assert {r["speaker"] for r in rows} == {"Actor_01", "Actor_02"}
    assert {r["gender"] for r in rows if r["speaker"] == "Actor_01"} == {"M"}
    assert all(abs(float(r["duration"]) - sf.info(r["wav"]).duration) < 1e-3 for r in rows)
    # re-run reuses; other options must not overwrite
    assert prepare_corpus("ravdess", root, tmp_path / "prep") == csv
    with pytest.raises(PrepError):
        prepare_corpus("ravdess", root, tmp_path / "prep", emotions=["angry"])


def test_prepare_errors(tmp_path):
    with pytest.raises(PrepError, match="not a folder"):
        prepare_corpus("ravdess", tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrepError, match="no speech file"):
        prepare_corpus("ravdess", tmp_path / "empty", tmp_path / "out")
