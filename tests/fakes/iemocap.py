"""A tiny fake IEMOCAP in the real ``IEMOCAP_full_release`` layout.

:func:`make_fake_iemocap` writes, under ``root``::

    root/
      __MACOSX/IEMOCAP_full_release/Session1/...     zip junk (AppleDouble)
      IEMOCAP_full_release/
        README.txt, Documentation/
        SessionN/                                   N = 1..5 (both speakers)
          .DS_Store
          dialog/EmoEvaluation/<dialog>.txt          real summary-line format
          dialog/EmoEvaluation/._<dialog>.txt        AppleDouble junk
          dialog/EmoEvaluation/{Categorical,Attribute,Self-evaluation}/...
          dialog/transcriptions/<dialog>.txt          with an un-numbered ``MXX0`` line
          sentences/wav/<dialog>/<utt>.wav           16 kHz mono PCM16
          sentences/wav/<dialog>/._<utt>.wav         AppleDouble junk

Each session has three dialogues (an improvisation and a script of each
kind; Session3 and Session5 use the suffixed names ``Ses03M_impro05a`` and
``Ses05M_script01_1b``), utterances alternate female/male speakers, and
labels cycle through ``neu hap ang sad exc fru xxx sur`` so that the
4-class preparation must drop ``fru``/``xxx``/``sur`` and merge ``exc``
into ``hap``. Every speaker of every session gets all four kept classes
when ``utts_per_dialog >= 6``. Session 2's label files use CRLF line ends
and one annotator comment holds a Latin-1 byte, as real files do.

Kept utterances are sines at a class-specific pitch plus a little noise,
so a tiny model can learn the classes; dropped ones are noise. Transcripts
name the utterance's emotion with a word of its own (``EMOTION_WORDS``) and
the session with a word used by no other session (``SESSION_WORDS``), so a
test can tell which sessions a text model saw. With
``multi_utterance_turns=True`` the speakers speak in runs of 1, 2, 3, 1, ...
utterances (turns of several utterances, as in real dialogues) instead of
alternating.

Authors
 * emotion2vec-sb contributors
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Sequence, Union

import numpy as np
import soundfile

PathLike = Union[str, os.PathLike]

RELEASE = "IEMOCAP_full_release"
LABEL_CYCLE = ("neu", "hap", "ang", "sad", "exc", "fru", "xxx", "sur")
FOUR_CLASS = {"ang": "ang", "hap": "hap", "exc": "hap", "neu": "neu", "sad": "sad"}
CLASS_PITCH = {"ang": 330.0, "hap": 523.0, "neu": 196.0, "sad": 131.0}
EMOTION_WORDS = {
    "neu": "okay", "hap": "great", "ang": "furious", "sad": "gloomy",
    "exc": "wonderful", "fru": "annoying", "xxx": "whatever", "sur": "really",
}
SESSION_WORDS = {1: "apple", 2: "banana", 3: "cherry", 4: "damson", 5: "elderberry"}
_APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)
_CATEGORY = {
    "neu": "Neutral",
    "hap": "Happiness",
    "ang": "Anger",
    "sad": "Sadness",
    "exc": "Excited",
    "fru": "Frustration",
    "xxx": "Other",
    "sur": "Surprise",
}


@dataclass
class FakeIemocap:
    """What :func:`make_fake_iemocap` wrote.

    Arguments
    ---------
    src_dir : Path
        The folder given to :func:`make_fake_iemocap` (pass it to the prep).
    root : Path
        The ``IEMOCAP_full_release`` folder inside it.
    labels : dict
        Every annotated utterance -> its annotated code (``exc``, ``xxx``, ...).
    kept : dict
        Utterances the 4-class preparation keeps -> label (``exc`` -> ``hap``).
    """

    src_dir: Path
    root: Path
    labels: Dict[str, str] = field(default_factory=dict)
    kept: Dict[str, str] = field(default_factory=dict)

    def wav_path(self, utt_id: str) -> Path:
        """Path of an utterance's wav file."""
        dialog = utt_id.rsplit("_", 1)[0]
        return (
            self.root / f"Session{utt_id[4]}" / "sentences" / "wav" / dialog / f"{utt_id}.wav"
        )

    def speaker(self, utt_id: str) -> str:
        """Speaker of an utterance (``Ses0<session><gender>``)."""
        return utt_id[:5] + utt_id.rsplit("_", 1)[1][0]

    def expected_counts(self) -> Dict[int, Dict[str, int]]:
        """Kept utterances per session and label: ``{session: {label: n}}``."""
        counts: Dict[int, Dict[str, int]] = {}
        for utt, label in sorted(self.kept.items()):
            per_session = counts.setdefault(int(utt[4]), {})
            per_session[label] = per_session.get(label, 0) + 1
        return {s: dict(sorted(c.items())) for s, c in sorted(counts.items())}


def _dialogs(session: int):
    third = {3: "Ses03M_impro05a", 5: "Ses05M_script01_1b"}.get(
        session, f"Ses0{session}M_impro02"
    )
    return [f"Ses0{session}F_impro01", f"Ses0{session}M_script01_1", third]


def _speaker_sequence(count: int, runs: bool):
    """Speaker genders of a dialogue's utterances, in time order."""
    if not runs:
        return ["FM"[j % 2] for j in range(count)]
    sequence, run = [], 0
    while len(sequence) < count:
        sequence += ["FM"[run % 2]] * (run % 3 + 1)
        run += 1
    return sequence[:count]


def _tone(
    label: str, seconds: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    noise = rng.normal(0.0, 0.05, t.shape)
    if label not in CLASS_PITCH:
        return (noise * 4).clip(-0.9, 0.9).astype(np.float32)
    pitch = CLASS_PITCH[label] * rng.uniform(0.97, 1.03)
    return (0.5 * np.sin(2 * np.pi * pitch * t) + noise).clip(-0.9, 0.9).astype(np.float32)


def _write(path: Path, data: Union[str, bytes], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.replace("\n", newline).encode("utf-8")
    path.write_bytes(data)


def make_fake_iemocap(
    root: PathLike,
    utts_per_dialog: int = 6,
    seconds: float = 0.5,
    sessions: Sequence[int] = (1, 2, 3, 4, 5),
    sample_rate: int = 16000,
    seed: int = 0,
    multi_utterance_turns: bool = False,
) -> FakeIemocap:
    """Writes a tiny IEMOCAP release under ``root/IEMOCAP_full_release``.

    Arguments
    ---------
    root : str or path
        Folder to write into (created if needed); the release is one level
        below it, with a ``__MACOSX`` junk tree next to it.
    utts_per_dialog : int
        Utterances per dialogue (alternating F/M speakers; 3 dialogues per
        session).
    seconds : float
        Length of every utterance.
    sessions : sequence of int
        Sessions to write (default all five).
    sample_rate : int
        Sample rate of the wav files (the real corpus: 16000).
    seed : int
        Seed of the waveform noise.
    multi_utterance_turns : bool
        Speakers speak in runs of 1, 2, 3, 1, ... utterances instead of
        alternating (the default).

    Returns
    -------
    FakeIemocap
        Paths and the labels written.

    Example
    -------
    >>> import tempfile
    >>> fake = make_fake_iemocap(tempfile.mkdtemp(), utts_per_dialog=6, seconds=0.1)
    >>> len(fake.labels), len(fake.kept), fake.root.name
    (90, 60, 'IEMOCAP_full_release')
    >>> fake.expected_counts()[1]
    {'ang': 2, 'hap': 5, 'neu': 3, 'sad': 2}
    """
    src_dir = Path(root)
    release = src_dir / RELEASE
    fake = FakeIemocap(src_dir=src_dir, root=release)
    rng = np.random.default_rng(seed)
    _write(release / "README.txt", "IEMOCAP (fake, for tests)\n")
    _write(release / "Documentation" / "readme.txt", "fake documentation\n")
    _write(
        src_dir / "__MACOSX" / RELEASE / "Session1" / "dialog" / "EmoEvaluation" / "._x.txt",
        _APPLEDOUBLE,
    )
    _write(
        src_dir / "__MACOSX" / RELEASE / "Session1" / "sentences" / "wav" / "._x.wav",
        _APPLEDOUBLE,
    )
    for session in sessions:
        session_dir = release / f"Session{session}"
        _write(session_dir / ".DS_Store", b"\x00\x00\x00\x01Bud1")
        position = {"F": 0, "M": 4}  # per-speaker place in LABEL_CYCLE
        for dialog in _dialogs(session):
            blocks, transcript, clock = [], [], 2.0
            number = {"F": 0, "M": 0}
            for j, gender in enumerate(_speaker_sequence(utts_per_dialog, multi_utterance_turns)):
                utt = f"{dialog}_{gender}{number[gender]:03d}"
                number[gender] += 1
                code = LABEL_CYCLE[position[gender] % len(LABEL_CYCLE)]
                position[gender] += 1
                start, end = clock, clock + seconds
                clock = end + 0.75
                fake.labels[utt] = code
                if code in FOUR_CLASS:
                    fake.kept[utt] = FOUR_CLASS[code]
                wav = _tone(FOUR_CLASS.get(code, code), seconds, sample_rate, rng)
                wav_path = fake.wav_path(utt)
                wav_path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(str(wav_path), wav, sample_rate, subtype="PCM_16")
                blocks.append(_block(utt, code, start, end))
                transcript.append(
                    f"{utt} [{start:08.4f}-{end:08.4f}]: Fake words number {j}, "
                    f"{EMOTION_WORDS[code]} {SESSION_WORDS[session]}.\n"
                )
            transcript.append(f"{dialog}_MXX0 [{clock:08.4f}-{clock + 0.3:08.4f}]: [LAUGHTER]\n")
            _write_dialog(session_dir, dialog, blocks, transcript, crlf=session == 2)
            first = f"{dialog}_F000"
            _write(fake.wav_path(first).with_name(f"._{first}.wav"), _APPLEDOUBLE)
    return fake


def _block(utt: str, code: str, start: float, end: float) -> bytes:
    name = _CATEGORY[code]
    lines = [
        f"[{start:.4f} - {end:.4f}]\t{utt}\t{code}\t[2.5000, 3.0000, 2.5000]",
        f"C-E2:\t{name};\t()",
        f"C-E3:\t{name}; Other:tired\t()",
        f"C-{utt[-4]}1:\t{name};\t(self)",
        "A-E3:\tval 3; act 2; dom  2;\t()",
        "A-E4:\tval 2; act 3; dom  3;\t(mildly annoyed)",
    ]
    text = "\n".join(lines).encode("utf-8") + b"\n"
    if utt.endswith("_M000"):  # annotator comment with a Latin-1 byte
        text += b"A-F1:\tval 3; act 3; dom  3;\t(caf\xe9)\n"
    return text


def _write_dialog(session_dir: Path, dialog: str, blocks, transcript, crlf: bool) -> None:
    emo_dir = session_dir / "dialog" / "EmoEvaluation"
    newline = b"\r\n" if crlf else b"\n"
    header = b"% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
    body = header + b"\n".join(blocks)
    _write(emo_dir / f"{dialog}.txt", body.replace(b"\n", newline))
    _write(emo_dir / f"._{dialog}.txt", _APPLEDOUBLE)
    _write(
        emo_dir / "Categorical" / f"{dialog}_e2_cat.txt", f"{dialog}_F000 :Neutral state; ()\n"
    )
    _write(
        emo_dir / "Attribute" / f"{dialog}_e3_atr.txt",
        f"{dialog}_F000 :act 2; val 3; dom  2; ()\n",
    )
    _write(emo_dir / "Self-evaluation" / f"{dialog}.anvil", "<annotation/>\n")
    _write(session_dir / "dialog" / "transcriptions" / f"{dialog}.txt", "".join(transcript))
