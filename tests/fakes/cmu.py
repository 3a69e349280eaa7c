"""Tiny fake CMU-MOSI and CMU-MOSEI trees in their real layouts.

:func:`make_fake_mosi` writes, under ``root`` (``form="raw"``, the CMU zip)::

    root/CMU_MOSI/Raw/Audio/WAV_16000/Segmented/<video_id>_<clip>.wav   16 kHz segments
    root/CMU_MOSI/Raw/Audio/WAV_16000/Segmented/._<...>.wav             AppleDouble junk
    root/CMU_MOSI/Raw/Transcript/Segmented/<video_id>.annotprocessed
    root/CMU_MOSI/Raw/Labels/CMU_MOSI_Opinion_Labels.csd                (csd=True; needs h5py)
    root/CMU_MOSI/.DS_Store, root/__MACOSX/...                          junk
    root/mirror/Segmented/<first segment>.wav                           a duplicate copy
    root/CMU-MultimodalSDK/.../CMU_MOSI/cmu_mosi_std_folds.py           (folds=True)
    root/MOSI/label.csv                                                 (label_csv=True; MMSA)

or (``form="mmsa"``) MMSA's clip layout ``root/MOSI/Raw/<video_id>/<clip>.mp4``
with the audio extracted beside each clip as ``<clip>.wav`` (except one
clip, which has only its ``.mp4``) and ``root/MOSI/label.csv``.

:func:`make_fake_mosei` writes the CMU raw MOSEI layout: whole-video WAVs
``Raw/Audio/Full/WAV_16000/<video_id>.wav``, transcripts
``Raw/Transcript/Segmented/Combined/<video_id>.txt`` (``<video_id>___<clip>___
<start>___<end>___<text>``), and labels as MMSA's ``MOSEI/label.csv``
(MOSEI's column order) and/or ``Raw/Labels/CMU_MOSEI_Labels.csd``, plus the
fold lists. Video IDs hold ``_`` and ``-``, start with ``-``, or are numeric;
MOSEI clip numbers start at 0.

Both return the exact rows a correct preparation writes (``expected``) and
what it must skip (``skipped``: ID -> reason substring). Segment audio is a
sine whose pitch follows the sentiment sign, so a tiny model can learn it.

Authors
 * emotion2vec-sb contributors
"""

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np
import soundfile

PathLike = Union[str, os.PathLike]
SR = 16000
_APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)
PITCH = {"positive": 523.0, "negative": 131.0, "neutral": 262.0}

MOSI_VIDEOS = {  # video -> (split, scores of clips 1, 2, ...)
    "atnd_PF-Lbs": ("train", (1.4, -0.8, 0.0, 2.0)),
    "I5y0__X72p0": ("train", (2.2, -2.6, -1.0)),
    "9J25DZhivz8": ("valid", (0.6, -0.4, 0.0)),
    "c5xsKMxpXnc": ("test", (-1.2, 3.0, 0.2, -0.6)),
}
MOSI_OUTSIDE = {"Zq0Zq0Zq0Zq": (1.0,)}  # labelled in the .csd, in no standard fold
MOSI_CORRUPT = "c5xsKMxpXnc_2"  # its WAV is garbage: reported and skipped
MOSI_VIDEO_ONLY = "atnd_PF-Lbs_3"  # mmsa form: only the .mp4 of this clip

MOSEI_VIDEOS = {  # video -> (split, [(clip, start, end, score or None)], whole-video seconds)
    "-3g5yACwYnA": ("train", [(0, 0.20, 0.70, 1.6667), (1, 0.90, 1.50, -0.3333),
                              (2, 1.60, 2.00, 0.0), (3, 2.10, 2.60, None)], 2.8),
    "101787": ("train", [(0, 0.00, 0.50, -2.0), (2, 0.60, 1.20, 0.6667),
                         (1, 1.30, 1.90, 2.3333)], 2.0),
    "Z_7Hd-eb_Lk": ("valid", [(0, 0.10, 0.60, 0.3333), (1, 0.70, 1.30, -1.0),
                              (2, 1.40, 1.80, 0.0)], 1.9),
    "zk2jTlAtvSU": ("test", [(0, 0.30, 0.80, -0.6667), (1, 0.90, 1.40, 1.0),
                             (2, 1.45, 1.70, 0.0), (3, 1.80, 2.40, 0.3333),
                             (4, 3.00, 3.50, 1.3333)], 2.2),
}
# zk2jTlAtvSU_3 ends at 2.4 s, past the 2.2 s of audio: cut to 1.8-2.2 s.
# zk2jTlAtvSU_4 starts past the audio: reported and skipped.
MOSEI_OUTSIDE = "-3g5yACwYnA_3"  # a transcript line without label (include_unlabelled)
MOSEI_PAST_END = "zk2jTlAtvSU_4"


@dataclass
class FakeCmu:
    """A fake corpus tree and what its preparation must give.

    Arguments
    ---------
    src_dir : Path
        The folder to prepare.
    expected : dict
        ID -> manifest values (``label``, ``split``, ``score``, ``polarity``,
        ``video_id``, ``clip_id``, ``duration``, ``start``, ``end``, ``text``).
    skipped : dict
        ID -> a substring of the reason it must be skipped for.
    folds_file : Path or None
        The SDK fold lists written.
    unlabelled : dict
        ID -> values of transcript segments without a label (MOSEI).
    """

    src_dir: Path
    expected: Dict[str, Dict] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)
    folds_file: Path = None
    unlabelled: Dict[str, Dict] = field(default_factory=dict)


def polarity(score):
    """Sign name of a score (``neutral`` for 0)."""
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def _tone(seconds: float, pitch: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * SR))) / SR
    return (0.3 * np.sin(2 * np.pi * pitch * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _write_wav(path: Path, wav: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), wav, SR, subtype="PCM_16")


def _row(video, clip, score, split, duration, start="", end="", text=""):
    sign = polarity(score)
    return {
        "label": sign if sign != "neutral" else "", "split": split, "score": f"{score:.6g}",
        "polarity": sign, "video_id": video, "clip_id": str(clip), "duration": duration,
        "start": start, "end": end, "text": text,
    }


def _write_folds(path: Path, videos: Dict[str, Tuple]) -> Path:
    lists = {s: [v for v, entry in videos.items() if entry[0] == s] for s in ("train", "valid", "test")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# CMU-MultimodalSDK standard folds (fake)\n"
        + "".join(f"standard_{s}_fold = {lists[s]!r}\n" for s in ("train", "valid", "test")),
        encoding="utf-8",
    )
    return path


def write_csd(path: Path, name: str, entries: Dict[str, List[Tuple[float, float, List[float]]]]) -> None:
    """A computational sequence: ``<name>/data/<video>/{features, intervals}`` (needs h5py)."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        root = handle.create_group(name)
        data = root.create_group("data")
        for video, rows in entries.items():
            group = data.create_group(video)
            group.create_dataset("features", data=np.array([r[2] for r in rows], dtype=np.float32))
            group.create_dataset("intervals", data=np.array([[r[0], r[1]] for r in rows]))
        meta = root.create_group("metadata")
        meta.attrs["root name"] = name


def _label_csv(path: Path, header: List[str], rows: List[Dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})


def make_fake_mosi(
    root: PathLike, form: str = "raw", label_csv: bool = True, csd: bool = False, folds: bool = True
) -> FakeCmu:
    """Writes a fake CMU-MOSI under ``root`` (see the module docstring)."""
    root = Path(root)
    fake = FakeCmu(root)
    raw = root / "CMU_MOSI" / "Raw"
    seg_dir = raw / "Audio" / "WAV_16000" / "Segmented"
    csd_entries: Dict[str, List] = {}
    label_rows = []
    for v_index, (video, (split, scores)) in enumerate({**MOSI_VIDEOS, **{
            k: ("", s) for k, s in MOSI_OUTSIDE.items()}}.items()):
        start, transcript = 1.0, []
        for clip, score in enumerate(scores, start=1):
            uid = f"{video}_{clip}"
            duration = round(0.4 + 0.1 * ((clip + v_index) % 3), 3)
            wav = _tone(duration, PITCH[polarity(score)], seed=7 * v_index + clip)
            if form == "raw":
                target = seg_dir / f"{uid}.wav"
            else:
                clip_dir = root / "MOSI" / "Raw" / video
                clip_dir.mkdir(parents=True, exist_ok=True)
                (clip_dir / f"{clip}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(32))
                target = clip_dir / f"{clip}.wav"
            if uid == MOSI_CORRUPT:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(b"RIFF garbage, not audio" * 4)
                fake.skipped[uid] = "cannot read"
            elif form == "mmsa" and uid == MOSI_VIDEO_ONLY:
                fake.skipped[uid] = "only video"
            else:
                _write_wav(target, wav)
                if video in MOSI_OUTSIDE:
                    fake.skipped[uid] = "in no standard fold"
                else:
                    fake.expected[uid] = _row(video, clip, score, split, duration,
                                              text=f"clip {clip} of {video}" if label_csv else "")
            csd_entries.setdefault(video, []).append((start, start + duration, [score]))
            if csd and not label_csv and uid in fake.expected:
                fake.expected[uid].update(start=f"{start:.3f}", end=f"{start + duration:.3f}")
            transcript.append(f"{clip}_DELIMITER_clip {clip} of {video}")
            start += duration + 0.5
            if video not in MOSI_OUTSIDE:
                label_rows.append(dict(video_id=video, clip_id=clip, text=f"clip {clip} of {video}",
                                       label=f"{score:.6g}", annotation=polarity(score).title(),
                                       mode=split))
        if form == "raw":
            tdir = raw / "Transcript" / "Segmented"
            tdir.mkdir(parents=True, exist_ok=True)
            (tdir / f"{video}.annotprocessed").write_text("\n".join(transcript) + "\n")
    if label_csv:
        _label_csv(root / "MOSI" / "label.csv",
                   ["video_id", "clip_id", "text", "label", "label_T", "label_A", "label_V",
                    "annotation", "mode"], label_rows)
        for uid in [u for u, why in fake.skipped.items() if why == "in no standard fold"]:
            del fake.skipped[uid]  # not in label.csv at all
    if csd:
        entries = {v: list(reversed(rows)) for v, rows in csd_entries.items()}  # file order != clip order
        write_csd(raw / "Labels" / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", entries)
    if folds:
        fake.folds_file = _write_folds(
            root / "CMU-MultimodalSDK" / "mmsdk" / "mmdatasdk" / "dataset" / "standard_datasets"
            / "CMU_MOSI" / "cmu_mosi_std_folds.py", MOSI_VIDEOS)
    _junk(root, "CMU_MOSI" if form == "raw" else "MOSI", seg_dir if form == "raw" else None)
    return fake


def _junk(root: Path, top: str, seg_dir) -> None:
    (root / top).mkdir(parents=True, exist_ok=True)
    (root / top / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    mac = root / "__MACOSX" / top
    mac.mkdir(parents=True, exist_ok=True)
    (mac / "._label.csv").write_bytes(_APPLEDOUBLE)
    if seg_dir is not None:
        first = sorted(seg_dir.glob("*.wav"))[0]
        (seg_dir / f"._{first.name}").write_bytes(_APPLEDOUBLE)
        (mac / f"._{first.name}").write_bytes(_APPLEDOUBLE)
        mirror = root / "mirror" / "Segmented"
        mirror.mkdir(parents=True, exist_ok=True)
        (mirror / first.name).write_bytes(first.read_bytes())  # a duplicate copy: kept once


def mosei_whole_video(video: str) -> np.ndarray:
    """The whole-video waveform of a fake MOSEI video (float32)."""
    split, clips, seconds = MOSEI_VIDEOS[video]
    wav = np.zeros(int(round(seconds * SR)), dtype=np.float32)
    seed = sum(map(ord, video))
    for clip, start, end, score in clips:
        a, b = int(round(start * SR)), min(int(round(end * SR)), wav.size)
        if a < b:
            wav[a:b] = _tone((b - a) / SR, PITCH[polarity(score or 0.0)], seed + clip)[: b - a]
    return wav


def make_fake_mosei(root: PathLike, label_csv: bool = True, csd: bool = False, folds: bool = True) -> FakeCmu:
    """Writes a fake CMU-MOSEI (CMU raw layout) under ``root``."""
    root = Path(root)
    fake = FakeCmu(root)
    raw = root / "CMU_MOSEI" / "Raw"
    label_rows, csd_entries = [], {}
    for video, (split, clips, seconds) in MOSEI_VIDEOS.items():
        _write_wav(raw / "Audio" / "Full" / "WAV_16000" / f"{video}.wav", mosei_whole_video(video))
        lines = []
        for clip, start, end, score in clips:
            uid = f"{video}_{clip}"
            text = f"words of {uid}"
            lines.append(f"{video}___{clip}___{start}___{end}___{text}")
            first, last = int(round(start * SR)), min(int(round(end * SR)), int(round(seconds * SR)))
            values = dict(duration=(last - first) / SR, start=f"{start:.3f}", end=f"{end:.3f}", text=text)
            if score is None:
                fake.unlabelled[uid] = dict(values, label="", split=split, score="", polarity="",
                                            video_id=video, clip_id=str(clip))
                continue
            if uid == MOSEI_PAST_END:
                fake.skipped[uid] = "outside the audio"
            else:
                fake.expected[uid] = dict(_row(video, clip, score, split, 0.0), **values)
            label_rows.append(dict(video_id=video, clip_id=clip, text=text, label=f"{score:.6g}",
                                   annotation=polarity(score).title(), mode=split))
            csd_entries.setdefault(video, []).append((start + 0.004, end - 0.003, [score, 0, 0, 0, 0, 0, 0]))
        tdir = raw / "Transcript" / "Segmented" / "Combined"
        tdir.mkdir(parents=True, exist_ok=True)
        (tdir / f"{video}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if label_csv:
        _label_csv(root / "MOSEI" / "label.csv",
                   ["video_id", "clip_id", "text", "label", "annotation", "mode",
                    "label_T", "label_A", "label_V"], label_rows)
    if csd:
        write_csd(raw / "Labels" / "CMU_MOSEI_Labels.csd", "All Labels", csd_entries)
    if folds:
        fake.folds_file = _write_folds(
            root / "CMU-MultimodalSDK" / "mmsdk" / "mmdatasdk" / "dataset" / "standard_datasets"
            / "CMU_MOSEI" / "cmu_mosei_std_folds.py", MOSEI_VIDEOS)
    (raw / "Videos" / "Full" / "Combined").mkdir(parents=True, exist_ok=True)
    _junk(root, "CMU_MOSEI", None)
    (raw / "Audio" / "Full" / "WAV_16000" / "._101787.wav").write_bytes(_APPLEDOUBLE)
    (raw / "Transcript" / "Segmented" / "Combined" / "._101787.txt").write_bytes(_APPLEDOUBLE)
    (raw / "README.txt").write_text("CMU-MOSEI raw data (fake)\n")
    return fake
