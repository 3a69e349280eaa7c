"""A tiny fake RAVDESS song, extracted together with speech, plus a mirror copy.

::

    root/Actor_NN/03-02-EE-01-01-01-NN.wav    song (actors 01, 02, 23), 48 kHz
    root/Actor_NN/03-01-EE-01-01-01-NN.wav    speech of the same actors (+ actor 18)
    root/audio_song_actors_01-24/Actor_01/... Kaggle-style duplicate of actor 01's song
    ._*.wav, .DS_Store, __MACOSX/...          junk

Each song actor sings the six song emotions once. Traps: the speech files
and a video-only name (``02-02-...``) are not song; ``03-02-05-01-01-01-02``
is undecodable and ``03-02-03-01-01-01-23`` empty (reported, no row);
``03-02-07-01-01-01-01.wav`` has an emotion song does not have (reported).

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.layout import BROKEN, FakeCorpus, write_macos_junk, write_tone

SONG = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful"}
SONG_ACTORS = (1, 2, 23)
RATE = 48000


def make_fake_ravdess_song(root, seconds: float = 0.1) -> FakeCorpus:
    """Writes the fake corpus under ``root`` and returns what it holds.

    Arguments
    ---------
    root : str or path
        Folder to write into (the preparation's source folder).
    seconds : float
        Length of each file.

    Returns
    -------
    FakeCorpus
    """
    root = Path(root)
    fake = FakeCorpus(root)
    for actor in SONG_ACTORS + (18,):
        folder = root / f"Actor_{actor:02d}"
        for k, (code, label) in enumerate(SONG.items()):
            write_tone(folder / f"03-01-{code}-01-01-01-{actor:02d}.wav", 7, seconds, RATE)
            if actor == 18:
                continue
            name = f"03-02-{code}-01-01-01-{actor:02d}"
            path = write_tone(folder / f"{name}.wav", k, seconds, RATE)
            fake.add(name, path, seconds, label=label, speaker=f"Actor_{actor:02d}",
                     gender="M" if actor % 2 else "F", session="", emo_raw=code,
                     intensity="01", statement="01", repetition="01")
            if actor == 1:
                fake.copy_to(name, root / "audio_song_actors_01-24" / folder.name / f"{name}.wav")
    fake.spoil("03-02-05-01-01-01-02", BROKEN, "cannot read")
    fake.spoil("03-02-03-01-01-01-23", b"", "empty")
    odd = write_tone(root / "Actor_01" / "03-02-07-01-01-01-01.wav", 0, seconds, RATE)
    fake.skip(odd, "does not occur in RAVDESS song")
    write_tone(root / "Actor_01" / "02-02-01-01-01-01-01.wav", 0, seconds, RATE)  # video-only code
    write_macos_junk(root, ["Actor_01/03-02-01-01-01-01-01.wav"])
    return fake
