"""EMOVO (Italian emotional speech) preparation.

Reads ``<emo>-<spk>-<sentence>.wav`` files (e.g. ``dis-f1-b1.wav``) at any
depth: the zip has speaker folders ``f1 f2 f3 m1 m2 m3`` (usually under
``EMOVO/``) and a documents folder; junk and duplicate copies are ignored.
Labels come from the file-name prefix: ``dis`` disgust, ``gio`` joy,
``neu`` neutral, ``pau`` fear, ``rab`` anger, ``sor`` surprise, ``tri``
sadness. Writes ``OUT_DIR/emovo.csv`` with ``ID, wav, duration, label,
speaker, gender, session`` plus ``emo_raw`` and ``sentence``; the audio
(48 kHz, mostly stereo) stays where it is and is downmixed and resampled
when read.

The corpus has 6 speakers (the paper's Table 1 says 10).

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
    "dis": "disgust", "gio": "joy", "neu": "neutral", "pau": "fear",
    "rab": "anger", "sor": "surprise", "tri": "sadness",
}
"""File-name prefix -> label, in the corpus's (alphabetical) code order."""

SPEAKERS = ("f1", "f2", "f3", "m1", "m2", "m3")

EXPECTED_COUNTS = {label: 84 for label in EMOTIONS.values()}
"""Per-class counts of the release: 6 speakers x 14 sentences (588 files)."""

FILE_PATTERN = re.compile(
    r"^(dis|gio|neu|pau|rab|sor|tri)-([fm][1-3])-([bdln]\d)\.wav$", re.IGNORECASE
)
EXTRA_COLUMNS = ("emo_raw", "sentence")


def parse_emovo_file(match: re.Match, path: Path) -> Dict[str, str]:
    """Row fields of an EMOVO file name.

    Arguments
    ---------
    match : re.Match
        :data:`FILE_PATTERN` matched on the basename.
    path : Path
        The file.

    Returns
    -------
    dict
        ``ID, label, speaker, gender, emo_raw, sentence``.

    Example
    -------
    >>> name = "dis-f1-b1.wav"
    >>> fields = parse_emovo_file(FILE_PATTERN.match(name), Path(name))
    >>> fields["ID"], fields["label"], fields["speaker"], fields["gender"]
    ('dis-f1-b1', 'disgust', 'f1', 'F')
    """
    code, speaker, sentence = (group.lower() for group in match.groups())
    return {
        "ID": f"{code}-{speaker}-{sentence}",
        "label": EMOTIONS[code],
        "speaker": speaker,
        "gender": speaker[0].upper(),
        "emo_raw": code,
        "sentence": sentence,
    }


SPEC = FileNameCorpus(
    name="EMOVO",
    csv_name="emovo.csv",
    pattern=FILE_PATTERN,
    parse=parse_emovo_file,
    expected=EXPECTED_COUNTS,
    extra_columns=EXTRA_COLUMNS,
    name_hint="<emo>-<spk>-<sentence>.wav (e.g. f1/dis-f1-b1.wav)",
)


@register_corpus(
    "emovo",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # Paper: random 10-fold, 80/10/10 (speaker-dependent).
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
        # EmoBox: 6 folds leave-one-speaker-out, 20 % of train validates.
        "loso_speaker": {"valid": "random", "valid_ratio": 0.2, "valid_is_test": False, "seed": 42},
    },
)
def prepare_emovo(
    src_dir: PathLike,
    out_dir: PathLike,
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/emovo.csv`` from an extracted EMOVO zip.

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
    >>> src = Path(tempfile.mkdtemp()) / "EMOVO"
    >>> write_audio(src / "m2" / "tri-m2-n5.wav", torch.zeros(4800, 2), sr=48000)
    >>> print(prepare_emovo(src, src.parent / "out").read_text().splitlines()[1])  # doctest: +ELLIPSIS
    tri-m2-n5,/.../tri-m2-n5.wav,0.10000,sadness,m2,M,,tri,n5
    """
    return prepare_by_file_name(
        SPEC, src_dir, out_dir, f"{__name__}.prepare_emovo", decode_audio,
        compare_to_release,
    )
