"""A tiny fake M3ED in the real layout (annotation JSON, split lists, speech clips).

:func:`make_fake_m3ed` writes, under ``root``::

    root/
      __MACOSX/M3ED/modality_speech/._A_anjia_1_1.wav
      M3ED/
        annotation.json                  RUCM3ED structure, Chinese speaker names
        splitInfo/movie_list_{train,val,test,total}.txt   no trailing newline
        modality_speech/<letter>_<utt>.wav                 16 kHz mono clips
        modality_speech/huanlesong_1_2.wav                 a clip named without the letter
        modality_speech/modality_speech/                   a nested duplicate of three clips
        modality_speech/._*.wav, .DS_Store                 AppleDouble junk
        modality_speech/Z_unknown_9_9.wav                  not annotated: ignored

Four movies: anjia and huanlesong (train), dahuanxi (val), doulaojiao
(test). The same person has letter A in one dialogue and B in the next
(speaker IDs come from the names). Traps: an utterance without
``final_main_emo``, one whose clip is missing, a broken clip and a
zero-byte clip (all reported).

Authors
 * emotion2vec-sb contributors
"""

import json
from pathlib import Path

from tests.fakes.layout import (
    BROKEN,
    FakeCorpus,
    write_bytes,
    write_junk,
    write_macosx,
    write_tone,
)

LABELS = ("Happy", "Neutral", "Sad", "Disgust", "Anger", "Fear", "Surprise")
SECONDS = 0.05
SPLIT_LISTS = {"train": ["anjia", "huanlesong"], "val": ["dahuanxi"], "test": ["doulaojiao"]}
SPEAKERS = {
    "anjia_1": {"A": ("房似锦", "female"), "B": ("徐文昌", "male")},
    "anjia_2": {"A": ("徐文昌", "male"), "B": ("房似锦", "female")},
    "huanlesong_1": {"A": ("安迪", "female")},
    "dahuanxi_1": {"A": ("", ""), "B": ("周淑贞", "male")},
    "doulaojiao_1": {"A": ("刘妈", "female"), "B": ("刘爸", "male")},
}
#: utterance -> (speaker letter, final_main_emo or None, clip kind)
UTTERANCES = {
    "anjia_1_1": ("A", "Neutral", "ok"),
    "anjia_1_2": ("B", "Happy", "ok"),
    "anjia_1_3": ("A", "Anger", "ok"),
    "anjia_2_1": ("A", "Sad", "ok"),
    "anjia_2_2": ("B", "Surprise", "ok"),
    "anjia_2_3": ("B", None, "ok"),
    "huanlesong_1_1": ("A", "Disgust", "ok"),
    "huanlesong_1_2": ("A", "Fear", "no_letter"),
    "dahuanxi_1_1": ("A", "Neutral", "ok"),
    "dahuanxi_1_2": ("B", "Happy", "ok"),
    "doulaojiao_1_1": ("A", "Sad", "ok"),
    "doulaojiao_1_2": ("B", "Neutral", "missing"),
    "doulaojiao_1_3": ("A", "Anger", "broken"),
    "doulaojiao_1_4": ("B", "Happy", "empty"),
    "doulaojiao_1_5": ("B", "Fear", "ok"),
}
_SPLIT = {"train": "train", "val": "valid", "test": "test"}


def movie_split(movie: str) -> str:
    """The manifest split of a fake movie."""
    return next(_SPLIT[key] for key, movies in SPLIT_LISTS.items() if movie in movies)


def make_fake_m3ed(root) -> FakeCorpus:
    """Writes the fake M3ED under ``root`` (see the module docstring).

    Arguments
    ---------
    root : str or path
        Folder to write into.

    Returns
    -------
    FakeCorpus
        Expected rows (11 utterances), skipped items and duplicates.
    """
    src = Path(root)
    top = src / "M3ED"
    clips = top / "modality_speech"
    label_file = top / "annotation.json"
    fake = FakeCorpus(src)
    annotation: dict = {}
    for utt, (letter, emotion, kind) in UTTERANCES.items():
        dialog = utt.rsplit("_", 1)[0]
        movie = dialog.rsplit("_", 1)[0]
        entry = annotation.setdefault(movie, {}).setdefault(dialog, {
            "SpeakerInfo": {k: {"Name": n, "Age": "mid", "Gender": g, "OtherName": []}
                            for k, (n, g) in SPEAKERS[dialog].items()},
            "Dialog": {},
        })
        emo = {"EmoAnnotator1": emotion, "final_mul_emo": [emotion], "final_main_emo": emotion}
        if emotion is None:
            emo = {"EmoAnnotator1": "Neutral"}
        entry["Dialog"][utt] = {
            "StartTime": "00:01:02:03", "EndTime": "00:01:04:05", "Text": "假的",
            "Speaker": letter, "EmoAnnotation": emo,
        }
        clip = clips / (f"{utt}.wav" if kind == "no_letter" else f"{letter}_{utt}.wav")
        if kind == "missing":
            fake.skip(f"{label_file} ({utt})", "no audio clip")
            continue
        if kind in ("broken", "empty"):
            fake.skip(write_bytes(clip, BROKEN if kind == "broken" else b""),
                      "cannot read" if kind == "broken" else "empty")
            continue
        write_tone(clip, LABELS.index(emotion or "Neutral"), SECONDS)
        if emotion is None:
            fake.skip(f"{label_file} ({utt})", "no usable final_main_emo")
            continue
        name, gender = SPEAKERS[dialog][letter]
        fake.add(utt, clip, SECONDS, label=emotion.lower(),
                 speaker=f"{movie}_{name}" if name else f"{dialog}_{letter}",
                 gender={"female": "F", "male": "M"}.get(gender, ""), session="",
                 split=movie_split(movie), emo_raw=emotion, movie=movie, dialog=dialog,
                 speaker_letter=letter, start="00:01:02:03", end="00:01:04:05")
    write_bytes(label_file, json.dumps(annotation, ensure_ascii=False, indent=1))
    for key, movies in SPLIT_LISTS.items():
        write_bytes(top / "splitInfo" / f"movie_list_{key}.txt", "\n".join(movies))
    write_bytes(top / "splitInfo" / "movie_list_total.txt",
                "\n".join(m for movies in SPLIT_LISTS.values() for m in movies))
    write_tone(clips / "Z_unknown_9_9.wav", 0, SECONDS)
    for utt in ("anjia_1_1", "anjia_1_2", "dahuanxi_1_1"):
        fake.copy_to(utt, clips / "modality_speech" / Path(fake.rows[utt]["wav"]).name)
    write_junk(clips, ["A_anjia_1_1.wav"])
    write_macosx(src, "M3ED/modality_speech/A_anjia_1_1.wav")
    return fake
