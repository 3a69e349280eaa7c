"""A tiny fake SUBESCO in the real layout (one flat folder of WAVs).

:func:`make_fake_subesco` writes, under ``root``::

    root/
      __MACOSX/SUBESCO/._<file>.wav        zip junk
      SUBESCO/
        <G>_<NN>_<NAME>_S_<sent>_<EMOTION>_<take>.wav    44.1 / 48 kHz, one stereo
        F_02_MONIKA_S_2_SURPRISE_3].wav   the real misnamed file (kept)
        ._<file>.wav, .DS_Store           AppleDouble junk
        M_05_DURANTO_S_9_ANGRY_4.wav      broken (not audio): skipped
        F_07_TITHI_S_9_SAD_2.wav          zero bytes: skipped
        sample.wav, readme.txt            not corpus files: ignored
      kaggle/SUBESCO/                      a mirror duplicating 3 files

All 20 speakers have one file (so EmoBox's speaker groups can be made);
F_02 and M_01 have every class.

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.layout import (
    BROKEN,
    FakeCorpus,
    write_bytes,
    write_junk,
    write_macosx,
    write_tone,
)

SPEAKERS = {
    "F_01": "OISHI", "F_02": "MONIKA", "F_03": "SMITA", "F_04": "SWARNALI", "F_05": "MOUNI",
    "F_06": "SIMI", "F_07": "TITHI", "F_08": "JOYEETA", "F_09": "CHAITY", "F_10": "FAHMEE",
    "M_01": "BASHIR", "M_02": "NIPUN", "M_03": "ILIAS", "M_04": "BIBHAS", "M_05": "DURANTO",
    "M_06": "SHUKANTO", "M_07": "SIBLY", "M_08": "PRASUN", "M_09": "SHUMANTA", "M_10": "EVAN",
}
EMOTIONS = ("ANGRY", "DISGUST", "FEAR", "HAPPY", "NEUTRAL", "SAD", "SURPRISE")


def make_fake_subesco(root, seconds: float = 0.05) -> FakeCorpus:
    """Writes the fake SUBESCO under ``root`` (see the module docstring).

    Arguments
    ---------
    root : str or path
        Folder to write into (the one given to the preparation).
    seconds : float
        Length of every file.

    Returns
    -------
    FakeCorpus
        Expected rows (40 utterances), skipped files and duplicates.
    """
    src = Path(root)
    corpus = src / "SUBESCO"
    fake = FakeCorpus(src)
    files = [(speaker, 1, EMOTIONS[k % 7], 1) for k, speaker in enumerate(SPEAKERS)]
    files += [(speaker, 2, emotion, 1) for speaker in ("F_02", "M_01") for emotion in EMOTIONS]
    for n, (speaker, sentence, emotion, take) in enumerate(files):
        stem = f"{speaker}_{SPEAKERS[speaker]}_S_{sentence}_{emotion}_{take}"
        wav = write_tone(
            corpus / f"{stem}.wav", EMOTIONS.index(emotion), seconds,
            sample_rate=(44100, 48000)[n % 2], channels=2 if n == 3 else 1,
        )
        _expect(fake, stem, wav, seconds, speaker, sentence, emotion, take)
    odd = write_tone(corpus / "F_02_MONIKA_S_2_SURPRISE_3].wav", 6, seconds, 48000)
    _expect(fake, "F_02_MONIKA_S_2_SURPRISE_3", odd, seconds, "F_02", 2, "SURPRISE", 3)
    fake.skip(write_bytes(corpus / "M_05_DURANTO_S_9_ANGRY_4.wav", BROKEN), "cannot read")
    fake.skip(write_bytes(corpus / "F_07_TITHI_S_9_SAD_2.wav", b""), "empty")
    write_tone(corpus / "sample.wav", 0, seconds)
    write_bytes(corpus / "readme.txt", "SUBESCO (fake)\n")
    first = sorted(fake.rows)[:3]
    write_junk(corpus, [f"{stem}.wav" for stem in first])
    write_macosx(src, f"SUBESCO/{first[0]}.wav")
    for stem in first:
        fake.copies(stem, [write_tone(src / "kaggle" / "SUBESCO" / f"{stem}.wav", 0, seconds)])
    return fake


def _expect(fake, stem, wav, seconds, speaker, sentence, emotion, take):
    fake.add(
        stem, wav, seconds, label=emotion.lower(), speaker=speaker, gender=speaker[0],
        session="", emo_raw=emotion, speaker_name=SPEAKERS[speaker],
        sentence=str(sentence), take=str(take),
    )
