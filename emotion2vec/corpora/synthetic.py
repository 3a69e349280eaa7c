"""A small synthetic acted-emotion corpus, written in RAVDESS's layout.

No corpus can be downloaded here, so the quickstart and the recipe tests
bring their own data: a source-filter synthesiser of speech-like
utterances where

* the **speaker** sets the pitch baseline, the vocal-tract length (formant
  scale), the speaking rate and the breathiness;
* the **emotion** sets the prosody: pitch level, pitch range and contour,
  speaking rate, loudness and voice quality (spectral tilt, breathiness,
  jitter, tremor); the ``strong`` intensity exaggerates it;
* the **content** is a random syllable sequence drawn anew for every file
  (random vowels, consonant bursts, durations), so that content carries no
  label.

Files are named ``03-01-EE-II-SS-RR-AA.wav`` under ``Actor_AA/`` at
48 kHz, exactly like ``Audio_Speech_Actors_01-24.zip``, and are read back
through the real RAVDESS preparation (``emotion2vec prepare ravdess``).

Authors
 * emotion2vec-sb contributors
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Sequence, Union

import numpy as np
import soundfile as sf
import torch
import torchaudio

from emotion2vec.audio import SAMPLE_RATE

#: Rate the voices are synthesised at (then resampled to the corpus rate):
#: the rate emotion2vec reads audio at.
SYNTHESIS_RATE = SAMPLE_RATE

#: How far (relative) an emotion at normal intensity moves the delivery
#: away from neutral; ``strong`` intensity is 1.6 times that.
EMOTION_STRENGTH = 0.6

#: RAVDESS emotion codes of the classes synthesised by default.
DEFAULT_EMOTIONS = ("01", "03", "04", "05", "06")  # neutral happy sad angry fearful


@dataclass(frozen=True)
class Prosody:
    """How an emotion changes a speaker's delivery (relative factors).

    Arguments
    ---------
    pitch : float
        Multiplier of the speaker's mean F0.
    pitch_range : float
        Intonation excursion, in octaves.
    contour : str
        ``"flat"``, ``"fall"``, ``"rise"``, ``"arch"`` or ``"jagged"``.
    rate : float
        Syllables per second multiplier.
    loudness : float
        Amplitude multiplier.
    tilt : float
        Spectral tilt exponent of the harmonics (higher = darker).
    breath : float
        Aspiration noise level.
    tremor : float
        Pitch tremor depth (fraction of F0) at about 8 Hz.
    """

    pitch: float
    pitch_range: float
    contour: str
    rate: float
    loudness: float
    tilt: float
    breath: float
    tremor: float


#: Prosody of each RAVDESS emotion code (neutral is the reference).
PROSODY: Dict[str, Prosody] = {
    "01": Prosody(1.00, 0.10, "fall", 1.00, 1.0, 1.6, 0.02, 0.000),  # neutral
    "02": Prosody(0.95, 0.06, "flat", 0.85, 0.8, 1.8, 0.04, 0.000),  # calm
    "03": Prosody(1.25, 0.45, "arch", 1.12, 1.2, 1.2, 0.02, 0.000),  # happy
    "04": Prosody(0.85, 0.05, "fall", 0.72, 0.6, 2.2, 0.08, 0.004),  # sad
    "05": Prosody(1.15, 0.30, "jagged", 1.18, 1.7, 0.9, 0.01, 0.000),  # angry
    "06": Prosody(1.40, 0.22, "rise", 1.28, 0.9, 1.7, 0.07, 0.030),  # fearful
    "07": Prosody(0.92, 0.18, "fall", 0.85, 1.1, 1.4, 0.05, 0.000),  # disgust
    "08": Prosody(1.35, 0.60, "rise", 1.05, 1.3, 1.3, 0.03, 0.000),  # surprised
}

RAVDESS_NAMES = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}

#: (F1, F2, F3) of a few vowels for an adult male vocal tract, Hz.
VOWELS = np.array(
    [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
     (570, 840, 2410), (660, 1720, 2410), (440, 1020, 2240)], dtype=np.float64
)


@dataclass(frozen=True)
class Speaker:
    """A synthetic voice.

    Arguments
    ---------
    f0 : float
        Mean pitch (Hz).
    tract : float
        Formant scale (shorter vocal tract = higher formants).
    rate : float
        Syllables per second.
    breath : float
        Baseline aspiration noise.
    channel : float
        Recording-channel colouring (one-pole filter coefficient).
    """

    f0: float
    tract: float
    rate: float
    breath: float
    channel: float


def make_speaker(actor: int) -> Speaker:
    """The voice of a RAVDESS-style actor (odd = male, even = female).

    Arguments
    ---------
    actor : int
        Actor number (1-24).

    Returns
    -------
    Speaker

    Example
    -------
    >>> make_speaker(1).f0 < make_speaker(2).f0
    True
    """
    rng = np.random.default_rng(1000 + actor)
    female = actor % 2 == 0
    return Speaker(
        f0=float((205 if female else 112) * np.exp(rng.normal(0, 0.15))),
        tract=float((1.16 if female else 1.0) * np.exp(rng.normal(0, 0.05))),
        rate=float(4.2 * np.exp(rng.normal(0, 0.12))),
        breath=float(abs(rng.normal(0.03, 0.015))),
        channel=float(rng.uniform(-0.6, 0.6)),
    )


def _contour(shape: str, n: int, rng) -> np.ndarray:
    """Pitch contour in [-1, 1] over ``n`` samples."""
    x = np.linspace(0.0, 1.0, n)
    if shape == "flat":
        return 0.1 * np.sin(2 * np.pi * x * rng.uniform(0.5, 1.5))
    if shape == "fall":
        return 0.6 - 1.2 * x
    if shape == "rise":
        return -0.6 + 1.2 * x ** 1.5
    if shape == "arch":
        return np.sin(np.pi * x * rng.integers(2, 4))
    if shape == "jagged":
        steps = rng.uniform(-1, 1, size=rng.integers(4, 7))
        return np.interp(x, np.linspace(0, 1, len(steps)), steps) * (1 - 0.5 * x)
    raise ValueError(f"unknown contour {shape!r}")


def synthesize_utterance(
    speaker: Speaker,
    prosody: Prosody,
    intensity: float,
    seed: int,
    sample_rate: int = 48000,
) -> np.ndarray:
    """One utterance: random syllables spoken with the given prosody.

    Arguments
    ---------
    speaker : Speaker
        The voice.
    prosody : Prosody
        The emotion's delivery.
    intensity : float
        1.0 normal; > 1 exaggerates the deviation from neutral.
    seed : int
        Content seed (syllables, durations, noise).
    sample_rate : int
        Output rate.

    Returns
    -------
    numpy.ndarray
        float32 waveform in [-1, 1].

    Example
    -------
    >>> wav = synthesize_utterance(make_speaker(3), PROSODY["05"], 1.0, 7, 16000)
    >>> wav.dtype, 0.5 < len(wav) / 16000 < 4.0, float(abs(wav).max()) <= 1.0
    (dtype('float32'), True, True)
    """
    rng = np.random.default_rng(seed)
    neutral = PROSODY["01"]
    strength = EMOTION_STRENGTH * intensity

    def scaled(value, reference):
        return reference + (value - reference) * strength

    # the emotion's prosody, blurred by utterance-to-utterance variation
    pitch = scaled(prosody.pitch, neutral.pitch) * np.exp(rng.normal(0, 0.08))
    pitch_range = scaled(prosody.pitch_range, neutral.pitch_range) * np.exp(rng.normal(0, 0.25))
    rate = speaker.rate * scaled(prosody.rate, neutral.rate) * np.exp(rng.normal(0, 0.08))
    loudness = scaled(prosody.loudness, neutral.loudness)
    tilt = scaled(prosody.tilt, neutral.tilt) + rng.normal(0, 0.15)
    breath = speaker.breath + prosody.breath * strength
    tremor = prosody.tremor * strength

    n_syllables = int(rng.integers(5, 10))
    durations = rng.uniform(0.6, 1.4, n_syllables) / rate
    total = int((durations.sum() + 0.25) * sample_rate)
    t = np.arange(total) / sample_rate

    # pitch track: speaker baseline x emotion level x contour x tremor + jitter
    octave = pitch_range * _contour(prosody.contour, total, rng)
    f0 = speaker.f0 * pitch * 2.0 ** octave
    f0 *= 1 + tremor * np.sin(2 * np.pi * rng.uniform(7, 9) * t)
    f0 *= 1 + 0.004 * np.cumsum(rng.normal(0, 1, total)) / np.sqrt(np.arange(1, total + 1))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate

    # formant trajectory: one vowel per syllable, smoothly joined
    bounds = np.concatenate([[0.0], np.cumsum(durations)]) + 0.1
    centres = (bounds[:-1] + bounds[1:]) / 2
    vowels = VOWELS[rng.integers(0, len(VOWELS), n_syllables)] * speaker.tract
    formants = np.stack([np.interp(t, centres, vowels[:, k]) for k in range(3)])
    bandwidths = np.array([90.0, 110.0, 170.0])[:, None]

    # harmonics via a complex recurrence (no per-harmonic sin), formant
    # gains on a 4 ms control grid
    hop = max(1, sample_rate // 250)
    grid = np.arange(0, total, hop)
    f0_grid = f0[grid][None, :]
    formants_grid = formants[:, grid][:, None, :]
    base = np.exp(1j * phase)
    harmonic = np.ones(total, dtype=np.complex128)
    wav = np.zeros(total)
    for k in range(1, int(7000 / (speaker.f0 * pitch * 0.6))):
        harmonic *= base
        freq = k * f0_grid
        gain = np.sum(1.0 / (1.0 + ((freq - formants_grid) / bandwidths[:, None]) ** 2), axis=0)[0]
        gain = (gain + 0.02) * (freq[0] < sample_rate / 2.2) / k ** tilt
        wav += np.repeat(gain, hop)[:total] * harmonic.imag

    # syllable envelope with consonant bursts at onsets
    envelope = np.zeros(total)
    noise = rng.normal(0, 1, total)
    burst = np.zeros(total)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        a, b = int(start * sample_rate), min(total, int(stop * sample_rate))
        n = b - a
        envelope[a:b] = np.sin(np.pi * np.linspace(0, 1, n)) ** 0.7
        onset = int(min(n, rng.uniform(0.03, 0.08) * sample_rate))
        burst[a : a + onset] = rng.uniform(0.05, 0.3) * np.hanning(onset)
    voiced = wav / (np.abs(wav).max() + 1e-9)
    signal = voiced * envelope * (1 + breath * noise) + breath * 2 * noise * envelope
    signal += np.diff(np.concatenate([[0.0], noise])) * burst
    # loud voices saturate a little (pressed quality), then the channel:
    # speaker-specific colouring, a random recording gain and room noise
    signal = np.tanh(loudness * signal / (np.abs(signal).max() + 1e-9))
    signal = torchaudio.functional.lfilter(  # y[n] = x[n] + c * y[n - 1]
        torch.from_numpy(signal), torch.tensor([1.0, -speaker.channel], dtype=torch.float64),
        torch.tensor([1.0, 0.0], dtype=torch.float64), clamp=False,
    ).numpy()
    gain = 0.2 * 10 ** (rng.uniform(-8, 8) / 20) / (np.abs(signal).max() + 1e-9)
    snr_db = rng.uniform(15, 35)
    noise_floor = np.sqrt(np.mean(signal**2)) * 10 ** (-snr_db / 20)
    signal = gain * (signal + noise_floor * rng.normal(0, 1, total))
    return np.clip(signal, -1, 1).astype(np.float32)


def ravdess_name(emotion: str, intensity: str, statement: str, repetition: str, actor: int) -> str:
    """RAVDESS speech file name ``03-01-EE-II-SS-RR-AA.wav``.

    Arguments
    ---------
    emotion, intensity, statement, repetition : str
        Two-digit codes.
    actor : int
        Actor number.

    Returns
    -------
    str

    Example
    -------
    >>> ravdess_name("05", "02", "01", "02", 7)
    '03-01-05-02-01-02-07.wav'
    """
    return f"03-01-{emotion}-{intensity}-{statement}-{repetition}-{actor:02d}.wav"


def write_synthetic_ravdess(
    root: Union[str, Path],
    actors: Sequence[int] = tuple(range(1, 9)),
    emotions: Sequence[str] = DEFAULT_EMOTIONS,
    repetitions: int = 2,
    sample_rate: int = 48000,
    seed: int = 0,
) -> Path:
    """Writes a synthetic corpus in the layout of RAVDESS speech.

    Per actor: every emotion at normal and strong intensity (neutral only
    normal, as in RAVDESS), 2 statements x ``repetitions``; each file gets
    fresh random content. Existing files are kept (re-runs are cheap and
    never overwrite), so the corpus is only written once.

    Arguments
    ---------
    root : str or Path
        Corpus root; ``Actor_NN/`` folders are created inside.
    actors : sequence of int
        Actor numbers (odd male, even female).
    emotions : sequence of str
        RAVDESS emotion codes.
    repetitions : int
        Repetitions per statement (RAVDESS: 2).
    sample_rate : int
        Rate of the written files (RAVDESS ships 48 kHz); voices are
        synthesised at 16 kHz and resampled.
    seed : int
        Corpus seed.

    Returns
    -------
    Path
        ``root``.
    """
    root = Path(root)
    for actor in actors:
        speaker = make_speaker(actor)
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for emotion in emotions:
            for intensity in ("01",) if emotion == "01" else ("01", "02"):
                for statement in ("01", "02"):
                    for repetition in range(1, repetitions + 1):
                        name = ravdess_name(emotion, intensity, statement, f"{repetition:02d}", actor)
                        path = folder / name
                        if path.exists():
                            continue
                        digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
                        wav = synthesize_utterance(
                            speaker, PROSODY[emotion], 1.0 if intensity == "01" else 1.6,
                            int.from_bytes(digest[:8], "little"), SYNTHESIS_RATE,
                        )
                        if sample_rate != SYNTHESIS_RATE:
                            wav = torchaudio.functional.resample(
                                torch.from_numpy(wav), SYNTHESIS_RATE, sample_rate
                            ).clamp(-1, 1).numpy()
                        tmp = path.with_name("." + name + ".tmp")
                        sf.write(tmp, wav, sample_rate, subtype="PCM_16", format="WAV")
                        tmp.replace(path)
    return root
