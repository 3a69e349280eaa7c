"""SAVEE (Surrey Audio-Visual Expressed Emotion) preparation.

Reads the official layout ``AudioData/<SPK>/<code><NN>.wav`` (speaker =
the folder, one of ``DC JE JK KL``) and the Kaggle layout
``ALL/<SPK>_<code><NN>.wav`` at any depth; duplicated trees (e.g. a nested
``AudioData/AudioData/``) and both layouts side by side are kept once per
utterance ``<SPK>_<code><NN>``. The label comes from the code in the file
name: ``a`` anger, ``d`` disgust, ``f`` fear, ``h`` happiness, ``n``
neutral, ``sa`` sadness, ``su`` surprise. Writes ``OUT_DIR/savee.csv``
with ``ID, wav, duration, label, speaker, gender, session`` plus
``emo_raw`` and ``sentence``; the audio (44.1 kHz mono) stays where it is.

Authors
 * emotion2vec-sb contributors
"""

import re
from pathlib import Path
from typing import Dict, Optional, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.named import FileNameCorpus, prepare_by_file_name

PathLike = Union[str, Path]

SPEAKERS = ("DC", "JE", "JK", "KL")
"""The four (male) speakers."""

EMOTIONS = {
    "a": "anger", "d": "disgust", "f": "fear", "h": "happiness",
    "n": "neutral", "sa": "sadness", "su": "surprise",
}
"""File-name code -> label, in the corpus's code order (the head order)."""

EXPECTED_COUNTS = {label: 60 for label in EMOTIONS.values()} | {"neutral": 120}
"""Per-class counts of the release: 4 speakers x 15 (neutral 30)."""

FILE_PATTERN = re.compile(
    r"^(?:(DC|JE|JK|KL)_)?(a|d|f|h|n|sa|su)(\d{2})\.wav$", re.IGNORECASE
)
"""Either layout's basename: optional ``<SPK>_`` prefix, code, number."""

EXTRA_COLUMNS = ("emo_raw", "sentence")


def parse_savee_file(match: re.Match, path: Path) -> Optional[Dict[str, str]]:
    """Row fields of a SAVEE file (speaker from the prefix or the folder).

    Arguments
    ---------
    match : re.Match
        :data:`FILE_PATTERN` matched on the basename.
    path : Path
        The file (its folder names the speaker in the official layout).

    Returns
    -------
    dict
        ``ID, label, speaker, gender, emo_raw, sentence``.

    Raises
    ------
    ValueError
        An official-layout name outside a speaker folder.

    Example
    -------
    >>> parse = lambda p: parse_savee_file(FILE_PATTERN.match(Path(p).name), Path(p))
    >>> parse("AudioData/JK/sa03.wav")["ID"], parse("ALL/JK_sa03.wav")["label"]
    ('JK_sa03', 'sadness')
    >>> parse("AudioData/a01.wav")
    Traceback (most recent call last):
    ...
    ValueError: SAVEE file outside a speaker folder (DC, JE, JK, KL): cannot tell its speaker
    """
    prefix, code, number = match.groups()
    speaker = (prefix or path.parent.name).upper()
    if speaker not in SPEAKERS:
        raise ValueError(
            f"SAVEE file outside a speaker folder ({', '.join(SPEAKERS)}): "
            "cannot tell its speaker"
        )
    code = code.lower()
    return {
        "ID": f"{speaker}_{code}{number}",
        "label": EMOTIONS[code],
        "speaker": speaker,
        "gender": "M",
        "emo_raw": code,
        "sentence": number,
    }


SPEC = FileNameCorpus(
    name="SAVEE",
    csv_name="savee.csv",
    pattern=FILE_PATTERN,
    parse=parse_savee_file,
    expected=EXPECTED_COUNTS,
    extra_columns=EXTRA_COLUMNS,
    name_hint="AudioData/<SPK>/<code><NN>.wav or <SPK>_<code><NN>.wav",
)


@register_corpus(
    "savee",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # Paper: random 10-fold, 80/10/10 (speaker-dependent).
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
        # EmoBox: 4 folds leave-one-speaker-out, 20 % of train validates.
        "loso_speaker": {"valid": "random", "valid_ratio": 0.2, "valid_is_test": False, "seed": 42},
    },
)
def prepare_savee(
    src_dir: PathLike,
    out_dir: PathLike,
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/savee.csv`` from a SAVEE download (either layout).

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
    >>> src = Path(tempfile.mkdtemp()) / "SAVEE"
    >>> write_audio(src / "AudioData" / "DC" / "su02.wav", torch.zeros(4410), sr=44100)
    >>> print(prepare_savee(src, src.parent / "out").read_text().splitlines()[1])  # doctest: +ELLIPSIS
    DC_su02,/.../su02.wav,0.10000,surprise,DC,M,,su,02
    """
    return prepare_by_file_name(
        SPEC, src_dir, out_dir, f"{__name__}.prepare_savee", decode_audio,
        compare_to_release,
    )
