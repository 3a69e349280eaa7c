"""MELD preparation: ``MELD.Raw`` -> 16 kHz mono WAVs + ``OUT_DIR/meld.csv``.

Rows come from the official annotation files ``train_sent_emo.csv``,
``dev_sent_emo.csv`` and ``test_sent_emo.csv`` and point at the clips
``dia<D>_utt<U>.mp4`` of the split's clip folder (``train_splits/``,
``dev_splits_complete/``, ``output_repeated_splits_test/``); CSVs and clips
are found by name anywhere under the source folder, so every known way of
extracting ``MELD.Raw.tar.gz`` and its inner ``train/dev/test.tar.gz``
works. Dialogue and utterance numbers restart in every split, so IDs carry
MELD's split name: ``train/dia0_utt0``, ``dev/dia0_utt0``,
``test/dia0_utt0``.

The clips are MP4 (a video stream and 6- or 2-channel AAC at 48 kHz). The
audio of each clip is decoded once with PyAV (``pip install
'emotion2vec[meld]'``), averaged over channels, resampled to 16 kHz and
written as PCM16 WAV into ``OUT_DIR/meld_wav/`` under the clip's path
relative to the source folder; a file is written under a temporary name
and renamed when complete, so an interrupted run leaves no half file, and
a later run reuses what is there.

The traps of the release are handled: an annotation row whose clip is
missing (dev ``dia110_utt7``) or undecodable (train ``dia125_utt3``) is
reported and skipped; the ~140 ``final_videos_test*.mp4`` clips of the
test folder match no row and are ignored (counted in the log); CSVs are
UTF-8 (with or without BOM), and a CSV in a legacy code page is read as
cp1252 with a warning; junk (``._*.mp4``, ``__MACOSX``) and duplicate
copies of CSVs or clip folders are ignored.

Manifest columns: ``ID, wav, duration, label, speaker, gender, session``
(``gender`` and ``session`` empty; ``speaker`` is the ``Speaker`` name),
then ``split`` (``train``/``valid``/``test``), ``emo_raw``, ``sentiment``,
``dialogue``, ``utterance``, ``season``, ``episode``, ``start_time``,
``end_time``, ``text`` and ``source`` (the MP4).

Authors
 * emotion2vec-sb contributors
"""

import csv
import io
import logging
import os
import re
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

from emotion2vec.audio import SAMPLE_RATE, AudioError, read_media, write_audio
from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import CorpusFile, find_named_files, probe_audio, probe_first
from emotion2vec.corpora.manifest import audio_row, check_prepared, finish_manifest
from emotion2vec.fileutils import sha256_file, staged_file

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

CSV_NAME = "meld.csv"
AUDIO_DIR = "meld_wav"
"""Folder of ``OUT_DIR`` receiving the decoded 16 kHz WAVs."""

SPLITS = ("train", "dev", "test")
"""MELD's split names (annotation files ``<split>_sent_emo.csv``)."""

SPLIT_VALUES = {"train": "train", "dev": "valid", "test": "test"}
"""MELD split -> manifest ``split`` value."""

CLIP_FOLDERS = {
    "train_splits": "train",
    "dev_splits_complete": "dev",
    "output_repeated_splits_test": "test",
}
"""Clip folder created by each inner archive -> split."""

EMOTIONS = ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")
"""The 7 classes in MELD's own index order (neutral 0 ... anger 6)."""

SENTIMENTS = ("positive", "neutral", "negative")

EXPECTED_ROWS = {"train": 9989, "dev": 1109, "test": 2610}
"""Annotation rows per split in the release."""

EXPECTED_COUNTS = {
    "train": {"neutral": 4709, "surprise": 1205, "fear": 268, "sadness": 683,
              "joy": 1743, "disgust": 271, "anger": 1109},
    "dev": {"neutral": 469, "surprise": 150, "fear": 40, "sadness": 111,
            "joy": 163, "disgust": 22, "anger": 153},
    "test": {"neutral": 1256, "surprise": 281, "fear": 50, "sadness": 208,
             "joy": 402, "disgust": 68, "anger": 345},
}
"""Usable utterances per split and class in the release (13,706): the rows
less train ``dia125_utt3`` (undecodable) and dev ``dia110_utt7`` (no clip)."""

KNOWN_UNUSABLE = {"train/dia125_utt3": "clip undecodable", "dev/dia110_utt7": "clip missing"}

EXTRA_COLUMNS = (
    "split", "emo_raw", "sentiment", "dialogue", "utterance", "season", "episode",
    "start_time", "end_time", "text", "source",
)

CSV_PATTERN = re.compile(r"^(train|dev|test)_sent_emo\.csv$", re.IGNORECASE)
CLIP_PATTERN = re.compile(r"^dia(\d+)_utt(\d+)\.mp4$", re.IGNORECASE)
EXTRA_CLIP_PATTERN = re.compile(r"^final_videos_test.*\.mp4$", re.IGNORECASE)

_COLUMNS = {
    "sr no.": "Sr No.", "utterance": "Utterance", "speaker": "Speaker", "emotion": "Emotion",
    "sentiment": "Sentiment", "dialogue_id": "Dialogue_ID", "utterance_id": "Utterance_ID",
    "season": "Season", "episode": "Episode", "starttime": "StartTime", "endtime": "EndTime",
}
_REQUIRED = ("Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")


def require_av() -> None:
    """Checks that PyAV (the MP4 decoder) is installed.

    Raises
    ------
    PrepError
        PyAV is missing; the message says how to install it.

    Example
    -------
    >>> try:
    ...     require_av()
    ... except PrepError as error:  # without PyAV
    ...     assert "pip install 'emotion2vec[meld]'" in str(error)
    """
    try:
        import av  # noqa: F401
    except ImportError:
        raise PrepError(
            "MELD: decoding its MP4 clips needs PyAV, which is not installed; "
            "install it with: pip install 'emotion2vec[meld]' (or pip install av)"
        ) from None


def read_meld_csv(path: PathLike) -> List[Dict[str, str]]:
    """Reads one ``<split>_sent_emo.csv`` into dicts keyed by MELD's column names.

    UTF-8 with or without BOM and any line ends are read as they are; a file
    that is not UTF-8 is decoded as cp1252 (a warning says so). Header
    names are matched without regard to case and surrounding spaces.

    Arguments
    ---------
    path : str or path
        Annotation CSV.

    Returns
    -------
    list of dict
        One dict per row, with the canonical column names (``Speaker``,
        ``Emotion``, ``Dialogue_ID``, ...), values stripped.

    Raises
    ------
    PrepError
        Empty file or a header without the needed columns.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "dev_sent_emo.csv"
    >>> _ = path.write_bytes(
    ...     b"\\xef\\xbb\\xbfSr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,"
    ...     b"Utterance_ID,Season,Episode,StartTime,EndTime\\r\\n"
    ...     b'1,"Oh, my God!",Joey,surprise,negative,0,0,8,21,"00:16:16,059","00:16:21,731"\\r\\n')
    >>> row = read_meld_csv(path)[0]
    >>> row["Speaker"], row["Emotion"], row["Utterance"], row["StartTime"]
    ('Joey', 'surprise', 'Oh, my God!', '00:16:16,059')
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.warning("MELD: %s is not UTF-8; reading it as cp1252", path)
        text = data.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise PrepError(f"MELD: annotation file {path} is empty")
    names = [_COLUMNS.get(name.strip().lower(), name.strip()) for name in header]
    missing = [name for name in _REQUIRED if name not in names]
    if missing:
        raise PrepError(
            f"MELD: annotation file {path} has no column(s) {missing} (header: {header})"
        )
    rows = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue  # blank line
        rows.append({name: value.strip() for name, value in zip(names, values)})
    return rows


def _csv_split(match: re.Match, path: Path) -> Dict[str, str]:
    return {"ID": match.group(1).lower()}


def find_meld_csvs(src: Path, skips: SkipLog) -> Dict[str, Path]:
    """Locates the three annotation CSVs anywhere under ``src``.

    Arguments
    ---------
    src : Path
        Source folder.
    skips : SkipLog
        Receives unusable entries.

    Returns
    -------
    dict
        Split -> CSV path (the shallowest copy; differing copies are warned about).

    Raises
    ------
    PrepError
        One or more of the CSVs is missing.

    Example
    -------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> for rel in ["MELD.Raw/train/train_sent_emo.csv", "MELD.Raw/dev_sent_emo.csv",
    ...             "MELD.Raw/test_sent_emo.csv", "__MACOSX/MELD.Raw/._dev_sent_emo.csv"]:
    ...     (src / rel).parent.mkdir(parents=True, exist_ok=True)
    ...     _ = (src / rel).write_text("Speaker,Emotion,Dialogue_ID,Utterance_ID\\n")
    >>> {k: v.relative_to(src).as_posix() for k, v in find_meld_csvs(src, SkipLog("MELD")).items()}
    {'train': 'MELD.Raw/train/train_sent_emo.csv', 'dev': 'MELD.Raw/dev_sent_emo.csv', 'test': 'MELD.Raw/test_sent_emo.csv'}
    """
    found = {f.key: f for f in find_named_files(src, CSV_PATTERN, "MELD", skips, _csv_split)}
    missing = [f"{split}_sent_emo.csv" for split in SPLITS if split not in found]
    if missing:
        raise PrepError(
            f"MELD: annotation file(s) {', '.join(missing)} not found under {src}. "
            "They are in MELD.Raw.tar.gz (and in the MELD GitHub repository, data/MELD/)."
        )
    for item in found.values():
        _warn_if_copies_differ(item)
    return {split: found[split].path for split in SPLITS}


def _warn_if_copies_differ(item: CorpusFile) -> None:
    if not item.copies:
        return
    digest = sha256_file(item.path)
    differing = [str(p) for p in item.copies if sha256_file(p) != digest]
    if differing:
        logger.warning(
            "MELD: using %s; other copies differ from it: %s", item.path, ", ".join(differing)
        )


def _clip_split(path: Path, src: Path) -> Optional[str]:
    """Split of a clip from its nearest clip folder (or outer split folder)."""
    parents = [part.lower() for part in path.relative_to(src).parts[:-1]]
    for name in reversed(parents):
        if name in CLIP_FOLDERS:
            return CLIP_FOLDERS[name]
    for name in reversed(parents):
        if name in SPLITS:
            return name
    return None


def find_meld_clips(src: Path, skips: SkipLog) -> Dict[str, CorpusFile]:
    """Indexes the ``dia<D>_utt<U>.mp4`` clips under ``src`` by utterance ID.

    Arguments
    ---------
    src : Path
        Source folder.
    skips : SkipLog
        Receives clips whose split cannot be told from their folders.

    Returns
    -------
    dict
        ``<split>/dia<D>_utt<U>`` -> the clip and its copies.

    Example
    -------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> for rel in ["train/train_splits/dia0_utt1.mp4", "dev/dev_splits_complete/dia0_utt1.mp4",
    ...             "output_repeated_splits_test/final_videos_testdia0_utt1.mp4",
    ...             "output_repeated_splits_test/._dia0_utt1.mp4"]:
    ...     (src / rel).parent.mkdir(parents=True, exist_ok=True)
    ...     _ = (src / rel).write_bytes(b"mp4")
    >>> sorted(find_meld_clips(src, SkipLog("MELD")))
    ['dev/dia0_utt1', 'train/dia0_utt1']
    """

    def parse(match: re.Match, path: Path) -> Dict[str, str]:
        split = _clip_split(path, src)
        if split is None:
            raise ValueError(
                f"clip outside the split folders ({', '.join(CLIP_FOLDERS)}): "
                "cannot tell its split"
            )
        dialogue, utterance = (int(group) for group in match.groups())
        return {"ID": f"{split}/dia{dialogue}_utt{utterance}"}

    return {f.key: f for f in find_named_files(src, CLIP_PATTERN, "MELD", skips, parse)}


def _check_clip_folders(src: Path, clips: Mapping[str, CorpusFile]) -> None:
    empty = [split for split in SPLITS if not any(key.startswith(f"{split}/") for key in clips)]
    if not empty:
        return
    lines = []
    for split in empty:
        folder = next(name for name, s in CLIP_FOLDERS.items() if s == split)
        archives = sorted(str(p) for p in src.rglob(f"{split}.tar.gz") if p.is_file())
        hint = f"; extract {archives[0]} first" if archives else ""
        lines.append(f"  - {split}: no dia*_utt*.mp4 clips in a {folder}/ folder{hint}")
    raise PrepError(f"MELD: clips missing under {src}:\n" + "\n".join(lines))


def decode_clip(mp4: PathLike, wav: PathLike, check_existing: bool = False) -> float:
    """Decodes a clip's audio into a 16 kHz mono PCM16 WAV, once.

    An existing ``wav`` is reused. The file is written under a temporary
    name and renamed when complete.

    Arguments
    ---------
    mp4 : str or path
        The clip.
    wav : str or path
        Output WAV.
    check_existing : bool
        Decode an existing ``wav`` completely instead of reading its header.

    Returns
    -------
    float
        Duration of the WAV in seconds.

    Raises
    ------
    AudioError
        The clip cannot be decoded, or ``wav`` exists but is unreadable.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "dia0_utt0.mp4").write_bytes(b"not an mp4 container")
    >>> decode_clip(folder / "dia0_utt0.mp4", folder / "out" / "dia0_utt0.wav")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.audio.io.AudioError: .../dia0_utt0.mp4: cannot decode audio (...)
    >>> (folder / "out").exists()
    False
    """
    wav = Path(wav)
    if wav.exists():
        try:
            return probe_audio(wav, decode=check_existing)
        except AudioError as error:
            raise AudioError(
                wav, f"{error.problem}: an earlier decode of {mp4} is unreadable; delete it "
                "to decode the clip again"
            ) from None
    samples = read_media(mp4, SAMPLE_RATE)
    with staged_file(wav) as tmp:
        write_audio(tmp, samples, SAMPLE_RATE)
    return samples.numel() / SAMPLE_RATE


def _meld_row(split: str, record: Mapping[str, str]) -> Tuple[str, Dict[str, str]]:
    """ID and manifest fields of an annotation row; ValueError(reason) if unusable."""
    try:
        dialogue, utterance = int(record["Dialogue_ID"]), int(record["Utterance_ID"])
    except (KeyError, ValueError):
        raise ValueError(
            f"Dialogue_ID/Utterance_ID {record.get('Dialogue_ID')!r}/"
            f"{record.get('Utterance_ID')!r} are not integers"
        ) from None
    emotion = record.get("Emotion", "").lower()
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown Emotion {record.get('Emotion')!r}")
    utt_id = f"{split}/dia{dialogue}_utt{utterance}"
    return utt_id, {
        "ID": utt_id,
        "label": emotion,
        "speaker": record.get("Speaker", ""),
        "gender": "",
        "session": "",
        "split": SPLIT_VALUES[split],
        "emo_raw": record.get("Emotion", ""),
        "sentiment": record.get("Sentiment", "").lower(),
        "dialogue": str(dialogue),
        "utterance": str(utterance),
        "season": record.get("Season", ""),
        "episode": record.get("Episode", ""),
        "start_time": record.get("StartTime", ""),
        "end_time": record.get("EndTime", ""),
        "text": record.get("Utterance", ""),
    }


def _collect_rows(
    src: Path, out: Path, csvs: Mapping[str, Path], clips: Mapping[str, CorpusFile],
    skips: SkipLog, decode_audio: bool,
) -> Tuple[List[Dict], Dict[str, int]]:
    rows, annotated, seen = [], {}, set()

    def decode(mp4: Path) -> float:
        return decode_clip(mp4, _wav_path(src, out, mp4), check_existing=decode_audio)

    for split in SPLITS:
        records = read_meld_csv(csvs[split])
        annotated[split] = len(records)
        logger.info(
            "MELD %s: %d annotation rows in %s (the release has %d)",
            split, len(records), csvs[split], EXPECTED_ROWS[split],
        )
        for number, record in enumerate(records, start=2):
            where = f"{csvs[split]} line {number}"
            try:
                utt_id, fields = _meld_row(split, record)
            except ValueError as error:
                skips.add(where, str(error))
                continue
            if utt_id in seen:
                skips.add(where, f"{utt_id} annotated twice (kept the first)")
                continue
            seen.add(utt_id)
            clip = clips.get(utt_id)
            if clip is None:
                name = utt_id.split("/", 1)[1]
                skips.add(f"{where} ({utt_id})", f"no clip {name}.mp4 in the {split} clip folder")
                continue
            usable = probe_first(clip.paths, skips, probe=decode)
            if usable is None:
                continue
            mp4, duration = usable
            fields["source"] = os.path.abspath(mp4)
            rows.append(audio_row(fields, _wav_path(src, out, mp4), duration))
            if len(rows) % 1000 == 0:
                logger.info("MELD: %d clips decoded or reused", len(rows))
    return rows, annotated


def _wav_path(src: Path, out: Path, mp4: Path) -> Path:
    return out / AUDIO_DIR / mp4.relative_to(src).with_suffix(".wav")


@register_corpus(
    "meld",
    labels=EMOTIONS,
    protocols={
        # Paper (and EmoBox): the official train / dev / test split.
        "predefined": {"column": "split"},
    },
)
def prepare_meld(
    src_dir: PathLike,
    out_dir: PathLike,
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/meld.csv`` (and the decoded WAVs) from ``MELD.Raw``.

    Every clip is decoded when its WAV is written; a WAV reused from an
    earlier (interrupted) run is checked by its header, or decoded
    completely with ``decode_audio``.

    Arguments
    ---------
    src_dir : str or path
        Folder ``MELD.Raw.tar.gz`` and its inner ``train/dev/test.tar.gz``
        were extracted into (annotation CSVs and clip folders are found at
        any depth).
    out_dir : str or path
        Output folder: ``meld.csv`` and ``meld_wav/`` (16 kHz mono WAVs).
    decode_audio : bool
        Decode the WAVs reused from an earlier run instead of reading their
        headers.
    compare_to_release : bool, optional
        Compare the per-split class counts with the release's (default:
        only when at least 90 % of the release's rows were found).

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    PrepError
        No such folder, a missing annotation CSV or clip folder (the
        message says which and what to extract), PyAV not installed, or an
        output CSV that must not be overwritten.

    Example
    -------
    >>> prepare_meld("/no/such/MELD.Raw", "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.corpora.common.PrepError: MELD: source folder /no/such/MELD.Raw does not exist...
    """
    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise PrepError(f"MELD: source folder {src} does not exist or is not a folder")
    csv_path = out / CSV_NAME
    maker = f"{__name__}.prepare_meld"
    options = {
        "source": os.path.abspath(src), "audio_dir": AUDIO_DIR, "sample_rate": SAMPLE_RATE,
        "decode_audio": bool(decode_audio),
    }
    if check_prepared(csv_path, maker, options):
        return csv_path
    skips = SkipLog("MELD")
    csvs = find_meld_csvs(src, skips)
    clips = find_meld_clips(src, skips)
    _check_clip_folders(src, clips)
    require_av()
    extras = len(find_named_files(src, EXTRA_CLIP_PATTERN, "MELD", SkipLog("MELD")))
    if extras:
        logger.info("MELD: ignoring %d final_videos_test*.mp4 clips (no annotation row)", extras)
    logger.info("MELD: decoding clips into %s (reusing earlier decodes)", out / AUDIO_DIR)
    rows, annotated = _collect_rows(src, out, csvs, clips, skips, decode_audio)
    summary = {
        "annotated_rows": annotated,
        "ignored_extra_clips": extras,
        "known_unusable_in_release": KNOWN_UNUSABLE,
    }
    return finish_manifest(
        csv_path, rows, maker, options, "MELD", skips, EXTRA_COLUMNS,
        expected={SPLIT_VALUES[split]: EXPECTED_COUNTS[split] for split in SPLITS},
        found=sum(annotated.values()), group="split", compare=compare_to_release,
        summary=summary,
    )
