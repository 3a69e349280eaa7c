"""RESD (Russian Emotional Speech Dialogs, Hugging Face ``Aniemore/resd``) preparation.

Two published forms are read, found by file name at any depth:

* current: ``data/train-00000-of-00001*.parquet`` and
  ``data/test-00000-of-00001*.parquet`` with columns ``name``, ``path``,
  ``emotion`` and ``speech`` (``{bytes, path}``, WAV bytes). Reading them
  needs pyarrow (``pip install 'emotion2vec[resd]'``). The audio of each
  row is written once into ``OUT_DIR/resd_wav/<split>/<ID>.wav`` (the WAV
  bytes as stored; other formats are re-encoded to PCM16 WAV at their own
  rate); a re-run reuses identical files and never overwrites others.
* older (used by EmoBox): ``train.csv`` / ``test.csv`` with columns
  ``name, path, emotion`` next to WAV folders ``train/<dialog>/<file>.wav``,
  ``test/...``; each row's file is looked up by its basename (folder names
  are not consistent with the file names).

The label is the ``emotion`` column (7 classes), the split the file it
came from (official 1,116 train / 280 test; the paper validates on 10 % of
train, see the ``predefined`` protocol's ``valid_ratio``). RESD has no
speaker IDs: ``speaker`` is empty and ``dialog`` holds the dialogue number
from the file name. Audio is 16 or 44.1 kHz; ``emotion2vec.audio``
resamples when reading.

Manifest ``OUT_DIR/resd.csv``: ``ID`` (``name`` without spaces), ``wav``,
``duration``, ``label``, ``speaker``/``gender``/``session`` (empty), then
``split``, ``emo_raw`` (as found) and ``dialog``.

Authors
 * emotion2vec-sb contributors
"""

import csv
import io
import logging
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import soundfile

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import index_files, probe_first, write_bytes_once
from emotion2vec.corpora.manifest import audio_row, check_prepared, finish_manifest, safe_id

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

CSV_NAME = "resd.csv"
AUDIO_FOLDER = "resd_wav"
EMOTIONS = ("anger", "disgust", "enthusiasm", "fear", "happiness", "neutral", "sadness")
"""The 7 classes of the ``emotion`` column, in this order."""

SPLITS = ("train", "test")
PARQUET_PATTERN = re.compile(r"^(train|test)-\d+-of-\d+.*\.parquet$", re.IGNORECASE)
CSV_PATTERN = re.compile(r"^(train|test)\.csv$", re.IGNORECASE)
NAME_PATTERN = re.compile(r"^(\d+)_([a-z]+)_([a-z]+)[ _]([adefhns])_(\d+)$", re.IGNORECASE)
EXTRA_COLUMNS = ("split", "emo_raw", "dialog")
FORMS = ("auto", "parquet", "csv")

EXPECTED_COUNTS = {
    "train": {
        "anger": 175, "disgust": 148, "enthusiasm": 158, "fear": 178,
        "happiness": 174, "neutral": 153, "sadness": 130,
    },
    "test": {
        "anger": 44, "disgust": 37, "enthusiasm": 40, "fear": 45,
        "happiness": 44, "neutral": 38, "sadness": 32,
    },
}
"""Per-split class counts of the release (1,116 train / 280 test)."""

PYARROW_HINT = "reading RESD's parquet files needs pyarrow: pip install 'emotion2vec[resd]'"


def find_resd_files(src_dir: PathLike, form: str = "auto") -> Tuple[str, Dict[str, Path]]:
    """Finds the split files of one RESD form under ``src_dir``.

    Copies of a split file (a duplicated tree) are reduced to the shallowest
    one; the others are logged.

    Arguments
    ---------
    src_dir : str or path
        Folder searched recursively.
    form : str
        ``"parquet"``, ``"csv"`` or ``"auto"`` (parquet when present).

    Returns
    -------
    (form, files)
        The form used and ``{basename: path}`` of its split files.

    Raises
    ------
    PrepError
        No split file of the form asked for.

    Example
    -------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> _ = (src / "train.csv").write_text("name,path,emotion\\n")
    >>> form, files = find_resd_files(src)
    >>> form, sorted(files)
    ('csv', ['train.csv'])
    """
    if form not in FORMS:
        raise PrepError(f"RESD: form must be one of {FORMS}, got {form!r}")
    src = Path(src_dir)
    if not src.is_dir():
        raise PrepError(f"RESD: source folder {src} does not exist or is not a folder")
    found = {}
    for kind, pattern in (("parquet", PARQUET_PATTERN), ("csv", CSV_PATTERN)):
        if form in ("auto", kind):  # the shallowest copy of each split file
            index = index_files(src, "RESD", pattern)
            found[kind] = {name: paths[0] for name, paths in index.items()}
    kind = next((k for k in ("parquet", "csv") if found.get(k)), None)
    if kind is None:
        raise PrepError(
            f"RESD: no {'split files' if form == 'auto' else form + ' split files'} under "
            f"{src} (expected data/train-00000-of-00001*.parquet and data/test-*.parquet, "
            "or train.csv / test.csv with train/ and test/ WAV folders)"
        )
    if form == "auto" and found.get("csv"):
        logger.info("RESD: both parquet and CSV files found; using the parquet files")
    return kind, found[kind]


def _train_first(files: Dict[str, Path]) -> List[Path]:
    """Split files in SPLITS order (a name found twice keeps its train row)."""
    return sorted(files.values(), key=lambda p: (SPLITS.index(_split_of(p)), p.name))


def _split_of(path: Path) -> str:
    return path.name.split("-")[0].split(".")[0].lower()


def _dialog_of(name: str) -> str:
    match = NAME_PATTERN.match(name)
    return str(int(match.group(1))) if match else ""


def _label_fields(name: str, emotion: Any, split: str) -> Dict[str, str]:
    name = str(name or "")
    if name.lower().endswith(".wav"):  # the name column is taken to be the stem
        name = name[:-4]
    utt_id = safe_id(name)
    return {
        "ID": utt_id,
        "label": str(emotion).strip().lower(),
        "split": split,
        "emo_raw": str(emotion),
        "dialog": _dialog_of(name),
    }


def _import_pyarrow_parquet():
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise PrepError(f"RESD: {PYARROW_HINT}") from None
    return parquet


def _iter_parquet_rows(path: PathLike, batch_size: int = 32) -> Iterator[Dict[str, Any]]:
    """Rows of a RESD parquet file (``name``, ``path``, ``emotion``, ``speech``).

    Arguments
    ---------
    path : str or path
        Parquet file.
    batch_size : int
        Rows decoded at a time (the audio bytes are held per batch).

    Yields
    ------
    dict
        One row; missing columns are None.

    Raises
    ------
    PrepError
        pyarrow is not installed (the message says how to install it).
    """
    parquet = _import_pyarrow_parquet()
    handle = parquet.ParquetFile(str(path))
    columns = [c for c in ("name", "path", "emotion", "speech") if c in handle.schema_arrow.names]
    for batch in handle.iter_batches(batch_size=batch_size, columns=columns):
        for row in batch.to_pylist():
            yield {key: row.get(key) for key in ("name", "path", "emotion", "speech")}


def wav_bytes(data: bytes) -> bytes:
    """WAV bytes of an audio blob: WAV kept as is, other formats re-encoded.

    The header is checked first, so bytes no decoder reads are refused
    before anything is written.

    Arguments
    ---------
    data : bytes
        Audio file bytes (any format libsndfile reads).

    Returns
    -------
    bytes
        A WAV file (PCM16 when re-encoded, same rate and channels).

    Raises
    ------
    ValueError
        Bytes that cannot be decoded.

    Example
    -------
    >>> buffer = io.BytesIO()
    >>> soundfile.write(buffer, [0.0] * 160, 16000, format="FLAC")
    >>> wav_bytes(buffer.getvalue())[:4]
    b'RIFF'
    """
    try:
        soundfile.info(io.BytesIO(data))
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            return data
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as err:  # libsndfile raises several types
        raise ValueError(f"cannot decode the audio bytes ({type(err).__name__}: {err})") from None
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _parquet_rows(
    files: Dict[str, Path], out_dir: Path, skips: SkipLog, decode_audio: bool
) -> List[Dict]:
    rows, seen = [], {}
    for path in _train_first(files):
        split = _split_of(path)
        for index, record in _readable_records(path, skips):
            row = _parquet_row(path, index, record, split, out_dir, skips, decode_audio, seen)
            if row is not None:
                rows.append(row)
    return rows


def _readable_records(path: Path, skips: SkipLog) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """The rows of a parquet file; a damaged file is reported where it breaks."""
    records = enumerate(_iter_parquet_rows(path), start=1)
    while True:
        try:
            yield next(records)
        except StopIteration:
            return
        except PrepError:
            raise
        except Exception as err:  # pyarrow raises several types for damaged files
            skips.add(path, f"cannot read the parquet file ({type(err).__name__}: {err})")
            return


def _parquet_row(path, index, record, split, out_dir, skips, decode_audio, seen) -> Optional[Dict]:
    speech = record.get("speech") or {}
    stem = record.get("name") or PurePosixPath(
        _posix(speech.get("path") or record.get("path"))
    ).stem
    where = f"{path} (row {index}, {stem or 'no name'})"
    fields = _label_fields(stem, record.get("emotion"), split)
    problem = _row_problem(fields) or _bytes_problem(speech.get("bytes"))
    if problem:
        skips.add(where, problem)
        return None
    if fields["ID"] in seen:
        skips.add_duplicate(where, seen[fields["ID"]])
        return None
    try:
        data = wav_bytes(speech["bytes"])
    except ValueError as err:
        skips.add(where, str(err))
        return None
    wav = out_dir / AUDIO_FOLDER / split / f"{fields['ID']}.wav"
    write_bytes_once(wav, data)
    seen[fields["ID"]] = wav
    picked = probe_first([wav], skips, decode_audio)
    return None if picked is None else audio_row(fields, *picked)


def _row_problem(fields: Dict[str, str]) -> str:
    if not fields["ID"]:
        return "row without a name"
    if fields["label"] not in EMOTIONS:
        return f"unknown emotion {fields['emo_raw']!r} (known: {', '.join(EMOTIONS)})"
    return ""


def _bytes_problem(data: Any) -> str:
    if data is None:
        return "no audio bytes"
    if not isinstance(data, (bytes, bytearray)):
        return f"audio bytes of unexpected type {type(data).__name__}"
    return "" if data else "empty audio bytes"


def _csv_rows(
    files: Dict[str, Path], src_dir: Path, skips: SkipLog, decode_audio: bool
) -> List[Dict]:
    audio = index_files(src_dir, "RESD", skips=skips)
    rows, seen = [], {}
    for path in _train_first(files):
        split = _split_of(path)
        for index, record in enumerate(_read_csv(path, skips)):
            stem = record.get("name") or PurePosixPath(_posix(record.get("path", ""))).stem
            where = f"{path} (row {index + 1}, {stem or 'no name'})"
            fields = _label_fields(stem, record.get("emotion"), split)
            problem = _row_problem(fields)
            if problem:
                skips.add(where, problem)
                continue
            if fields["ID"] in seen:
                skips.add_duplicate(where, seen[fields["ID"]])
                continue
            seen[fields["ID"]] = where
            candidates = _candidates(record, stem, split, path.parent, audio)
            if not candidates:
                skips.add(where, "no audio file found for this row")
                continue
            picked = probe_first(candidates, skips, decode_audio)
            if picked is not None:
                rows.append(audio_row(fields, *picked))
    return rows


def _read_csv(path: Path, skips: SkipLog) -> List[Dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return [dict(row) for row in csv.DictReader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        skips.add(path, f"cannot read the CSV file ({err})")
        return []


def _posix(text: str) -> str:
    return str(text or "").replace("\\", "/")


def _candidates(record, stem, split, csv_dir: Path, audio: Mapping[str, Sequence[Path]]) -> List[Path]:
    """Files that may hold a CSV row's audio, the likeliest first."""
    names = [PurePosixPath(_posix(record.get("path"))).name, f"{stem}.wav"]
    paths = []
    for name in dict.fromkeys(n for n in names if n):
        paths += [p for p in audio.get(name, []) if p not in paths]

    def rank(path: Path):
        near = csv_dir in path.parents
        in_split = split in (part.lower() for part in path.parts)
        return (not near, not in_split, len(path.parts), str(path))

    return sorted(paths, key=rank)


@register_corpus(
    "resd",
    labels=EMOTIONS,
    protocols={
        # Paper: official train/test, 10 % of train randomly taken as validation.
        # (EmoBox's single fold is the same official split.)
        "predefined": {"column": "split", "valid_ratio": 0.1, "seed": 42},
    },
)
def prepare_resd(
    src_dir: PathLike,
    out_dir: PathLike,
    form: str = "auto",
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/resd.csv`` from either published form of RESD.

    A second call with the same options reuses the CSV (and the extracted
    WAVs); an existing CSV from other options or from elsewhere is never
    overwritten. Rows with an unknown emotion, no audio or undecodable
    audio are reported and skipped.

    Arguments
    ---------
    src_dir : str or path
        The downloaded dataset folder (files found at any depth).
    out_dir : str or path
        Output folder (the parquet form's audio goes to ``resd_wav/``).
    form : str
        ``"auto"`` (parquet files when present, else the CSV form),
        ``"parquet"`` or ``"csv"``.
    decode_audio : bool
        Decode every file to check it instead of reading headers.
    compare_to_release : bool, optional
        Compare per-split class counts with the release's (default: only
        when at least 90 % of its 1,396 utterances were found).

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    PrepError
        No split file found, pyarrow missing for the parquet form, no
        usable row, or an output file that must not be overwritten.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "resd"
    >>> write_audio(src / "test" / "01_happiness_anger" / "01_happiness_anger a_010.wav",
    ...             torch.zeros(1600))
    >>> _ = (src / "test.csv").write_text(
    ...     "name,path,emotion\\n01_happiness_anger a_010,"
    ...     "01_happiness_anger/01_happiness_anger a_010.wav,anger\\n")
    >>> print(prepare_resd(src, src.parent / "out").read_text().splitlines()[1])  # doctest: +ELLIPSIS
    01_happiness_anger_a_010,/...wav,0.10000,anger,,,,test,anger,1
    """
    kind, files = find_resd_files(src_dir, form)
    src, out = Path(src_dir), Path(out_dir)
    csv_path = out / CSV_NAME
    maker = f"{__name__}.prepare_resd"
    options = {"source": os.path.abspath(src), "form": kind, "decode_audio": bool(decode_audio)}
    if check_prepared(csv_path, maker, options):
        return csv_path
    logger.info("RESD: reading the %s form (%s)", kind, ", ".join(str(p) for p in files.values()))
    skips = SkipLog("RESD")
    if kind == "parquet":
        _import_pyarrow_parquet()  # fail before any work when pyarrow is missing
        rows = _parquet_rows(files, out, skips, decode_audio)
    else:
        rows = _csv_rows(files, src, skips, decode_audio)
    present = sorted({_split_of(p) for p in files.values()})
    expected = {split: EXPECTED_COUNTS[split] for split in present}
    return finish_manifest(
        csv_path, rows, maker, options, "RESD", skips, EXTRA_COLUMNS,
        expected=expected, group="split", compare=compare_to_release,
    )
