"""MEAD preparation (pre-training only): ``<ACTOR>/audio.tar`` -> 16 kHz mono
WAVs + ``OUT_DIR/mead.csv``.

MEAD is downloaded per actor (``M003``, ``W009``, ...: M male, W female);
each actor's ``audio.tar`` holds ``audio/<emotion>/level_<k>/<NNN>.m4a``
(AAC, 48 or 44.1 kHz, stereo). Both forms are accepted, at any depth
under the source folder: the archive as downloaded (``<ACTOR>/audio.tar``)
and the tree already extracted (``<ACTOR>/audio/<emotion>/level_<k>/
<NNN>.m4a``); when both exist for an actor, the extracted files are used
and the archive's members only fill in files the tree lacks.

Every M4A is decoded ONCE with PyAV (``pip install 'emotion2vec[meld]'``:
the same optional decoder MELD needs), averaged over channels, resampled to
16 kHz and written as PCM16 WAV into ``OUT_DIR/mead_wav/<ACTOR>/<emotion>/
level_<k>/<NNN>.wav`` under a temporary name, renamed when complete; a
re-run reuses the WAVs already there (header check, or a full decode with
``decode_audio``).

Archives are read, never extracted: only regular-file members whose name
is ``audio/<emotion>/level_<k>/<NNN>.m4a`` (optionally under ``./`` or
``<ACTOR>/``) are read into memory and decoded; a member with an absolute
path, a ``..`` component, a link or a device is refused and reported. The
archive's own paths never decide where anything is written: the output
path is rebuilt from the parsed actor, emotion, level and number.

Manifest columns: ``ID`` (``<ACTOR>/<emotion>/level_<k>/<NNN>``), ``wav``,
``duration``, ``label`` (the emotion folder: MEAD has no file-name code),
``speaker`` (the actor), ``gender`` (``M``/``F`` from the actor's letter),
``session`` (empty), then ``level`` and ``source`` (the M4A, or
``<audio.tar>:<member>``). Pre-training uses only ``ID, wav, duration``.

Paper (Table 1): 60 actors, 31,792 utterances, 37.3 h; EmoBox found 31,729
files from 48 actors.

Authors
 * emotion2vec-sb contributors
"""

import logging
import os
import re
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Tuple, Union

from emotion2vec.audio import SAMPLE_RATE, AudioError, read_media, write_audio
from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import find_named_files, probe_audio
from emotion2vec.corpora.manifest import audio_row, check_prepared, finish_manifest
from emotion2vec.fileutils import staged_file

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

CSV_NAME = "mead.csv"
AUDIO_DIR = "mead_wav"
"""Folder of ``OUT_DIR`` receiving the decoded 16 kHz WAVs."""

EMOTIONS = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
"""Emotion folder names of the release."""

EXPECTED_UTTERANCES = 31792
"""Table 1 of the paper (60 actors)."""

EXTRA_COLUMNS = ("level", "source")

ACTOR_RE = re.compile(r"^[MW]\d{3}$")
ARCHIVE_PATTERN = re.compile(r"^audio\.tar$", re.IGNORECASE)
_RELATIVE_RE = re.compile(
    r"^audio/(?P<emotion>[a-z]+)/level_(?P<level>\d+)/(?P<number>\d+)\.m4a$", re.IGNORECASE
)


def require_av() -> None:
    """Checks that PyAV (the M4A decoder) is installed.

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
            "MEAD: decoding its M4A files needs PyAV, which is not installed; "
            "install it with: pip install 'emotion2vec[meld]' (or pip install av)"
        ) from None


def parse_member(name: str, actor: str) -> Tuple[Optional[Dict[str, str]], Optional[str]]:
    """Parses an archive member (or a path relative to the actor folder).

    Arguments
    ---------
    name : str
        Member name, e.g. ``audio/angry/level_1/001.m4a`` (a leading ``./``
        or ``<ACTOR>/`` is accepted).
    actor : str
        The actor the archive belongs to.

    Returns
    -------
    (fields or None, refusal or None)
        ``fields`` (``ID``, ``emotion``, ``level``, ``number``) for an
        audio member; ``refusal`` says why an unsafe name is refused;
        (None, None) for a member that is not MEAD audio (ignored).

    Example
    -------
    >>> parse_member("./audio/angry/level_1/001.m4a", "M003")[0]["ID"]
    'M003/angry/level_1/001'
    >>> parse_member("../../etc/passwd", "M003")[1]
    "unsafe member name '../../etc/passwd' ('..' component)"
    >>> parse_member("audio/README.txt", "M003")
    (None, None)
    """
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        return None, f"unsafe member name {name!r} (absolute path)"
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        return None, f"unsafe member name {name!r} ('..' component)"
    if parts and parts[0] == actor:
        parts = parts[1:]
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return None, None  # junk (AppleDouble, hidden)
    match = _RELATIVE_RE.match("/".join(parts))
    if match is None:
        return None, None
    emotion = match["emotion"].lower()
    level, number = int(match["level"]), match["number"]
    return {
        "ID": f"{actor}/{emotion}/level_{level}/{number}",
        "emotion": emotion, "level": str(level), "number": number,
    }, None


def _actor_of(path: Path, src: Path) -> Optional[str]:
    """The nearest ``M###``/``W###`` folder above ``path``."""
    for part in reversed(path.relative_to(src).parts[:-1]):
        if ACTOR_RE.match(part):
            return part
    return None


def _wav_path(out: Path, fields: Dict[str, str]) -> Path:
    return out / AUDIO_DIR / (fields["ID"] + ".wav")


def _reuse(wav: Path, source: str, check: bool) -> float:
    try:
        return probe_audio(wav, decode=check)
    except AudioError as error:
        raise AudioError(
            wav, f"{error.problem}: an earlier decode of {source} is unreadable; delete it "
            "to decode it again"
        ) from None


def decode_m4a(m4a: PathLike, wav: PathLike, check_existing: bool = False) -> float:
    """Decodes an M4A file into a 16 kHz mono PCM16 WAV, once (an existing WAV is reused).

    Arguments
    ---------
    m4a : str or path
        Input file.
    wav : str or path
        Output WAV (written staged).
    check_existing : bool
        Decode an existing ``wav`` completely instead of reading its header.

    Returns
    -------
    float
        Duration of the WAV in seconds.

    Raises
    ------
    AudioError
        Undecodable input, or an unreadable existing ``wav``.

    Example
    -------
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "001.m4a").write_bytes(b"not audio")
    >>> decode_m4a(folder / "001.m4a", folder / "out" / "001.wav")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.audio.io.AudioError: .../001.m4a: cannot decode audio (...)
    """
    wav = Path(wav)
    if wav.exists():
        return _reuse(wav, str(m4a), check_existing)
    samples = read_media(m4a, SAMPLE_RATE)
    with staged_file(wav) as tmp:
        write_audio(tmp, samples, SAMPLE_RATE)
    return samples.numel() / SAMPLE_RATE


def _decode_bytes(data: bytes, where: str, wav: Path, scratch: Path) -> float:
    """Decodes M4A bytes (an archive member) via a scratch file into ``wav``."""
    handle, name = tempfile.mkstemp(prefix=".member.", suffix=".m4a", dir=scratch)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        try:
            samples = read_media(name, SAMPLE_RATE)
        except AudioError as error:
            raise AudioError(where, error.problem) from None
    finally:
        os.unlink(name)
    with staged_file(wav) as tmp:
        write_audio(tmp, samples, SAMPLE_RATE)
    return samples.numel() / SAMPLE_RATE


def _row(fields: Dict[str, str], actor: str, wav: Path, duration: float, source: str) -> Dict:
    return audio_row({
        "ID": fields["ID"], "label": fields["emotion"], "speaker": actor,
        "gender": {"M": "M", "W": "F"}[actor[0]], "session": "",
        "level": fields["level"], "source": source,
    }, wav, duration)


def _from_folders(src: Path, out: Path, skips: SkipLog, check: bool, rows: Dict[str, Dict]) -> None:
    for path in sorted(p for p in src.rglob("*.m4a") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(src)
        if any(part.startswith(".") or part == "__MACOSX" for part in rel.parts):
            continue
        actor = _actor_of(path, src)
        if actor is None:
            skips.add(path, "not under an actor folder (M###/W###)")
            continue
        if path.is_symlink():
            skips.add(path, "symbolic link (not followed)")
            continue
        inside = path.relative_to(src / Path(*rel.parts[: rel.parts.index(actor) + 1]))
        fields, refusal = parse_member(inside.as_posix(), actor)
        if fields is None:
            if refusal:
                skips.add(path, refusal)
            continue
        if fields["ID"] in rows:
            skips.add_duplicate(path, rows[fields["ID"]]["source"])
            continue
        if path.stat().st_size == 0:
            skips.add(path, "empty file")
            continue
        wav = _wav_path(out, fields)
        try:
            duration = decode_m4a(path, wav, check_existing=check)
        except AudioError as error:
            skips.add_audio_error(error)
            continue
        rows[fields["ID"]] = _row(fields, actor, wav, duration, os.path.abspath(path))


def _from_archive(
    archive: Path, actor: str, out: Path, skips: SkipLog, check: bool, rows: Dict[str, Dict]
) -> None:
    try:
        tar = tarfile.open(archive, mode="r:*")
    except (tarfile.TarError, OSError) as error:
        skips.add(archive, f"cannot open the archive ({error})")
        return
    scratch = out / AUDIO_DIR
    scratch.mkdir(parents=True, exist_ok=True)
    with tar:
        while True:
            try:
                member = tar.next()
            except tarfile.TarError as error:
                skips.add(archive, f"archive damaged after {len(rows)} files ({error})")
                break
            if member is None:
                break
            where = f"{archive}:{member.name}"
            fields, refusal = parse_member(member.name, actor)
            if refusal:
                skips.add(where, refusal)
                continue
            if fields is None:
                continue
            if not member.isreg():
                kind = "link" if (member.issym() or member.islnk()) else "not a regular file"
                skips.add(where, f"refused: {kind}")
                continue
            if fields["ID"] in rows:
                skips.add_duplicate(where, rows[fields["ID"]]["source"])
                continue
            wav = _wav_path(out, fields)
            try:
                if wav.exists():
                    duration = _reuse(wav, where, check)
                elif member.size == 0:
                    raise AudioError(where, "empty file")
                else:
                    handle = tar.extractfile(member)
                    data = handle.read() if handle is not None else b""
                    duration = _decode_bytes(data, where, wav, scratch)
            except AudioError as error:
                skips.add_audio_error(error)
                continue
            rows[fields["ID"]] = _row(fields, actor, wav, duration, where)
            if len(rows) % 1000 == 0:
                logger.info("MEAD: %d files decoded or reused", len(rows))


@register_corpus("mead")
def prepare_mead(
    src_dir: PathLike,
    out_dir: PathLike,
    decode_audio: bool = False,
) -> Path:
    """Writes ``OUT_DIR/mead.csv`` (and the decoded WAVs) from MEAD's per-actor downloads.

    Arguments
    ---------
    src_dir : str or path
        Folder holding the actor folders (``M003/audio.tar`` or
        ``M003/audio/<emotion>/level_<k>/<NNN>.m4a``, any depth).
    out_dir : str or path
        Output folder: ``mead.csv`` and ``mead_wav/``.
    decode_audio : bool
        Decode the WAVs reused from an earlier run instead of reading
        their headers.

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    PrepError
        No such folder, no MEAD audio found, PyAV not installed, or an
        output CSV that must not be overwritten.

    Example
    -------
    >>> prepare_mead("/no/such/MEAD", "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.corpora.common.PrepError: MEAD: source folder /no/such/MEAD does not exist...
    """
    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise PrepError(f"MEAD: source folder {src} does not exist or is not a folder")
    csv_path = out / CSV_NAME
    maker = f"{__name__}.prepare_mead"
    options = {
        "source": os.path.abspath(src), "audio_dir": AUDIO_DIR, "sample_rate": SAMPLE_RATE,
        "decode_audio": bool(decode_audio),
    }
    if check_prepared(csv_path, maker, options):
        return csv_path
    skips = SkipLog("MEAD")
    archives: List[Tuple[str, Path]] = []
    for item in find_named_files(src, ARCHIVE_PATTERN, "MEAD", skips,
                                 lambda match, path: {"ID": str(path)}):
        actor = _actor_of(item.path, src)
        if actor is None:
            skips.add(item.path, "audio.tar not in an actor folder (M###/W###)")
        else:
            archives.append((actor, item.path))
    has_m4a = any(src.rglob("*.m4a"))
    if not archives and not has_m4a:
        raise PrepError(
            f"MEAD: no <ACTOR>/audio.tar and no <ACTOR>/audio/<emotion>/level_<k>/*.m4a "
            f"found under {src}"
        )
    require_av()
    logger.info("MEAD: decoding into %s (reusing earlier decodes)", out / AUDIO_DIR)
    rows: Dict[str, Dict] = {}
    _from_folders(src, out, skips, decode_audio, rows)
    for actor, archive in sorted(archives):
        _from_archive(archive, actor, out, skips, decode_audio, rows)
    unknown = sorted({r["label"] for r in rows.values()} - set(EMOTIONS))
    if unknown:
        logger.warning("MEAD: emotion folders outside the release's: %s", unknown)
    actors = sorted({r["speaker"] for r in rows.values()})
    logger.info("MEAD: %d files from %d actors (paper: %d from 60)",
                len(rows), len(actors), EXPECTED_UTTERANCES)
    return finish_manifest(
        csv_path, [rows[k] for k in sorted(rows)], maker, options, "MEAD", skips,
        EXTRA_COLUMNS, summary={"actors": actors, "archives": [str(a) for _, a in archives]},
    )
