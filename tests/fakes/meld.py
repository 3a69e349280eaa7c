"""A tiny fake ``MELD.Raw`` (needs PyAV to write its MP4 clips), with its traps.

::

    root/MELD.Raw/
      train.tar.gz dev.tar.gz test.tar.gz          the inner archives (placeholders)
      train_sent_emo.csv                           copy of train/train_sent_emo.csv
      train/train_sent_emo.csv                     UTF-8, CRLF, quoted times
      train/train_splits/dia<D>_utt<U>.mp4         video + 6-channel AAC (dia0), stereo (others)
      dev_sent_emo.csv                             UTF-8 with BOM
      dev_splits_complete/dia<D>_utt<U>.mp4        6-channel
      dev/dev_splits_complete/...                  a duplicate copy of the dev clips
      test_sent_emo.csv                            cp1252 (a legacy-code-page export)
      test/output_repeated_splits_test/...         stereo and 6-channel
      test/output_repeated_splits_test/final_videos_testdia0_utt0.mp4   extra, no row
      ._*.mp4, __MACOSX/...                        junk

Rows: train 7, dev 3, test 3. Traps: train ``dia125_utt3`` is undecodable and
train ``dia2_utt0`` is empty (reported, no row); dev ``dia110_utt7`` has no
clip (reported, no row), as in the real release. 10 usable utterances.

Channel content is chosen so that downmixing can be checked: in 6-channel
clips only the front-left channel carries a 0.6 sine (the mean of the six
channels peaks near 0.1); in stereo clips both channels carry 0.4.

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from tests.fakes.layout import BROKEN, FakeCorpus, write_bytes, write_macos_junk

HEADER = ("Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,"
          "Episode,StartTime,EndTime")
# split -> (dialogue, utterance, speaker, emotion, sentiment, text, channels)
ROWS: Dict[str, List[Tuple]] = {
    "train": [
        (0, 0, "Chandler", "neutral", "neutral", "also I was the point person", 6),
        (0, 1, "The Interviewer", "joy", "positive", "You must’ve had your hands full.", 6),
        (0, 2, "Chandler", "surprise", "positive", "That I did. That I did.", 6),
        (125, 2, "Monica", "anger", "negative", "Café, now!", 2),
        (125, 3, "Monica", "neutral", "neutral", "(broken clip)", 2),
        (2, 0, "Rachel", "sadness", "negative", "(empty clip)", 2),
        (2, 1, "Rachel", "fear", "negative", "Oh, no.", 2),
    ],
    "dev": [
        (0, 0, "Joey", "disgust", "negative", "Eww.", 6),
        (110, 6, "Ross", "neutral", "neutral", "Hi.", 6),
        (110, 7, "Ross", "neutral", "neutral", "(no clip)", 6),
    ],
    "test": [
        (0, 0, "Phoebe", "joy", "positive", "Yay!", 2),
        (0, 1, "Phoebe", "anger", "negative", "Hey, that’s mine.", 6),
        (3, 0, "Mr. Geller", "neutral", "neutral", "So, “how’s work”?", 2),
    ],
}
CLIP_DIRS = {
    "train": "MELD.Raw/train/train_splits",
    "dev": "MELD.Raw/dev_splits_complete",
    "test": "MELD.Raw/test/output_repeated_splits_test",
}
CSV_FILES = {
    "train": ("MELD.Raw/train/train_sent_emo.csv", "utf-8"),
    "dev": ("MELD.Raw/dev_sent_emo.csv", "utf-8-sig"),
    "test": ("MELD.Raw/test_sent_emo.csv", "cp1252"),
}
SPLIT_VALUES = {"train": "train", "dev": "valid", "test": "test"}
BROKEN_ID, EMPTY_ID, MISSING_ID = "train/dia125_utt3", "train/dia2_utt0", "dev/dia110_utt7"


def write_mp4(path, channels: int, seconds: float = 0.3, rate: int = 48000) -> Path:
    """Writes a tiny MP4 clip: an MPEG-4 video stream and AAC audio.

    Arguments
    ---------
    path : str or path
        Output file.
    channels : int
        6 (5.1 layout, signal in front-left only) or 2 (both channels).
    seconds : float
        Audio length.
    rate : int
        Audio sample rate.

    Returns
    -------
    Path
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = {6: "5.1", 2: "stereo"}[channels]
    t = np.arange(int(seconds * rate)) / rate
    data = np.zeros((channels, t.size), np.float32)
    if channels == 6:
        data[0] = 0.6 * np.sin(2 * np.pi * 220 * t)
    else:
        data[:] = 0.4 * np.sin(2 * np.pi * 220 * t)
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width = video.height = 16
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = layout
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        for start in range(0, t.size, 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, start:start + 1024]), format="fltp", layout=layout
            )
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


def _csv_text(split: str) -> str:
    lines = [HEADER]
    for number, (dia, utt, speaker, emotion, sentiment, text, _) in enumerate(ROWS[split], 1):
        quoted = '"' + text.replace('"', '""') + '"' if "," in text or '"' in text else text
        start, end = f'"00:16:{10 + utt:02d},059"', f'"00:16:{12 + utt:02d},731"'
        lines.append(f"{number},{quoted},{speaker},{emotion},{sentiment},{dia},{utt},8,21,{start},{end}")
    return "\r\n".join(lines) + "\r\n"


def make_fake_meld(root, seconds: float = 0.3) -> FakeCorpus:
    """Writes the fake release under ``root`` and returns what it holds.

    ``FakeCorpus.rows`` maps IDs to the expected ``label``, ``speaker``,
    ``split``, ``text``, ``source`` (the MP4 used) and ``channels``.

    Arguments
    ---------
    root : str or path
        Folder to write into (the preparation's source folder).
    seconds : float
        Audio length of each clip.

    Returns
    -------
    FakeCorpus
    """
    root = Path(root)
    fake = FakeCorpus(root)
    for split, rows in ROWS.items():
        rel, encoding = CSV_FILES[split]
        write_bytes(root / rel, _csv_text(split).encode(encoding))
        for dia, utt, speaker, emotion, _, text, channels in rows:
            utt_id = f"{split}/dia{dia}_utt{utt}"
            clip = root / CLIP_DIRS[split] / f"dia{dia}_utt{utt}.mp4"
            if utt_id == MISSING_ID:
                fake.skip(root / rel, f"no clip dia{dia}_utt{utt}.mp4")
                continue
            if utt_id in (BROKEN_ID, EMPTY_ID):
                write_bytes(clip, BROKEN if utt_id == BROKEN_ID else b"")
                fake.skip(clip, "cannot decode" if utt_id == BROKEN_ID else "empty")
                continue
            write_mp4(clip, channels, seconds)
            fake.rows[utt_id] = {"label": emotion, "speaker": speaker,
                                 "split": SPLIT_VALUES[split], "text": text,
                                 "source": str(clip), "channels": str(channels)}
            if split == "dev":
                write_bytes(root / "MELD.Raw/dev/dev_splits_complete" / clip.name, clip.read_bytes())
    write_bytes(root / "MELD.Raw/train_sent_emo.csv", (root / CSV_FILES["train"][0]).read_bytes())
    write_mp4(root / CLIP_DIRS["test"] / "final_videos_testdia0_utt0.mp4", 2, seconds)
    for split in ROWS:
        write_bytes(root / f"MELD.Raw/{split}.tar.gz", b"\x1f\x8b placeholder")
    write_macos_junk(root, ["MELD.Raw/train/train_splits/dia0_utt0.mp4",
                            "MELD.Raw/dev_splits_complete/dia0_utt0.mp4"])
    return fake
