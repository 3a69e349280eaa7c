"""Writes the two short example clips in ``examples/audio/`` (deterministic).

A glottal-pulse-like harmonic source with a moving pitch contour, shaped by
three formant resonances and a syllable-rate loudness envelope: speech-like
enough to exercise the feature extractor, with no recording needed.

Run: python examples/make_example_audio.py
"""

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def vowel_like(seconds, f0_start, f0_end, formants, seed):
    """Harmonic source with a pitch glide, formant weighting and envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = np.linspace(f0_start, f0_end, len(t)) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    wav = np.zeros_like(t)
    for k in range(1, 30):
        freq = k * f0
        gain = sum(np.exp(-((freq - f) / 120.0) ** 2) for f in formants) + 0.05
        wav += gain * np.sin(k * phase) / k
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 4 * t)) * np.hanning(len(t)) ** 0.3
    wav = wav * envelope + 0.003 * rng.standard_normal(len(t))
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "audio"
    out.mkdir(exist_ok=True)
    sf.write(out / "calm.wav", vowel_like(1.6, 120, 100, (700, 1200, 2500), 0), SR, subtype="PCM_16")
    sf.write(out / "excited.wav", vowel_like(1.2, 220, 320, (800, 1400, 2700), 1), SR, subtype="PCM_16")
    print("wrote", sorted(p.name for p in out.iterdir()))
