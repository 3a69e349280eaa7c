"""EmoDB (Berlin Database of Emotional Speech) preparation.

Reads the 535 files of ``download.zip``'s ``wav/`` folder (found at any
depth; annotation folders, junk and duplicate copies are ignored), named
``SSTTTEV.wav``: speaker ``SS``, text ``TTT``, emotion letter ``E`` (German
initial) and version ``V``, e.g. ``03a01Fa.wav``. Labels: ``W`` anger
(Wut), ``L`` boredom (Langeweile), ``E`` disgust (Ekel), ``A`` fear
(Angst), ``F`` happiness (Freude), ``T`` sadness (Trauer), ``N`` neutral.
Writes ``OUT_DIR/emodb.csv`` with ``ID, wav, duration, label, speaker,
gender, session`` plus ``emo_raw``, ``sentence`` (text code) and
``version``; the audio (16 kHz mono) stays where it is.

Authors
 * emotion2vec-sb contributors
"""

import re
from pathlib import Path
from typing import Dict, Optional, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.named import FileNameCorpus, prepare_by_file_name

PathLike = Union[str, Path]

EMOTIONS = {
    "W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
    "F": "happiness", "T": "sadness", "N": "neutral",
}
"""Emotion letter -> label, in the order the corpus documentation lists them."""

SPEAKER_GENDER = {
    "03": "M", "08": "F", "09": "F", "10": "M", "11": "M",
    "12": "M", "13": "F", "14": "F", "15": "M", "16": "F",
}
"""The ten speakers and their gender."""

EXPECTED_COUNTS = {
    "anger": 127, "boredom": 81, "disgust": 46, "fear": 69,
    "happiness": 71, "sadness": 62, "neutral": 79,
}
"""Per-class counts of the release (535 files)."""

FILE_PATTERN = re.compile(r"^(\d{2})([ab]\d{2})([WLEAFTN])([a-z])\.wav$")
EXTRA_COLUMNS = ("emo_raw", "sentence", "version")


def parse_emodb_file(match: re.Match, path: Path) -> Dict[str, str]:
    """Row fields of an EmoDB file name.

    Arguments
    ---------
    match : re.Match
        :data:`FILE_PATTERN` matched on the basename.
    path : Path
        The file.

    Returns
    -------
    dict
        ``ID, label, speaker, gender, emo_raw, sentence, version``.

    Raises
    ------
    ValueError
        A speaker number that is not one of the ten.

    Example
    -------
    >>> name = "03a01Fa.wav"
    >>> fields = parse_emodb_file(FILE_PATTERN.match(name), Path(name))
    >>> fields["label"], fields["speaker"], fields["gender"], fields["sentence"]
    ('happiness', '03', 'M', 'a01')
    """
    speaker, sentence, letter, version = match.groups()
    if speaker not in SPEAKER_GENDER:
        raise ValueError(f"EmoDB has no speaker {speaker} (speakers: {', '.join(SPEAKER_GENDER)})")
    return {
        "ID": path.stem,
        "label": EMOTIONS[letter],
        "speaker": speaker,
        "gender": SPEAKER_GENDER[speaker],
        "emo_raw": letter,
        "sentence": sentence,
        "version": version,
    }


SPEC = FileNameCorpus(
    name="EmoDB",
    csv_name="emodb.csv",
    pattern=FILE_PATTERN,
    parse=parse_emodb_file,
    expected=EXPECTED_COUNTS,
    extra_columns=EXTRA_COLUMNS,
    name_hint="SSTTTEV.wav (e.g. wav/03a01Fa.wav)",
)


@register_corpus(
    "emodb",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # Paper: random 10-fold, 80/10/10 (speaker-dependent).
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
        # Speaker-independent: leave one speaker out, the next speaker validates.
        # (EmoBox's 5 EmoDB folds are fixed random lists, not speaker-independent.)
        "loso_speaker": {"valid": "next_speaker", "valid_is_test": False, "seed": 42},
    },
)
def prepare_emodb(
    src_dir: PathLike,
    out_dir: PathLike,
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/emodb.csv`` from an extracted EmoDB ``download.zip``.

    Arguments
    ---------
    src_dir : str or Path
        Folder the corpus was extracted into (files are found at any depth).
    out_dir : str or Path
        Output folder.
    decode_audio : bool
        Decode every file to check it instead of reading headers.
    compare_to_release : bool, optional
        Compare the class counts with the release's (default: only when at
        least 90 % of the release was found).

    Returns
    -------
    Path
        The manifest CSV.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "download"
    >>> write_audio(src / "wav" / "16b10Wb.wav", torch.zeros(3200))
    >>> print(prepare_emodb(src, src.parent / "out").read_text().splitlines()[1])  # doctest: +ELLIPSIS
    16b10Wb,/.../16b10Wb.wav,0.20000,anger,16,F,,W,b10,b
    """
    return prepare_by_file_name(
        SPEC, src_dir, out_dir, f"{__name__}.prepare_emodb", decode_audio,
        compare_to_release,
    )
