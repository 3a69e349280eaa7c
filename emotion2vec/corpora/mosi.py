"""CMU-MOSI preparation: ``emotion2vec prepare mosi SRC OUT`` -> ``OUT/mosi.csv``.

2,199 opinion segments of 93 YouTube videos (89 speakers), English, with
the mean sentiment of 5 annotators in [-3, 3]. The paper's task (Table 7)
is binary: positive (> 0) against negative (< 0), zero removed, on the
standard CMU-MultimodalSDK folds (52 / 10 / 31 videos = 1,284 / 229 / 686
segments; 1,231 / 216 / 656 without the zeros).

Forms read (see :mod:`emotion2vec.corpora.cmu` for the rules and the
manifest columns): the CMU raw zip (``Raw/Audio/WAV_16000/Segmented/
<video_id>_<clip>.wav`` with ``CMU_MOSI_Opinion_Labels.csd`` and
``cmu_mosi_std_folds.py``) and MMSA's ``MOSI/label.csv`` (with the audio of
its clips, either the CMU segment WAVs or ``<video_id>/<clip>.wav``).

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path
from typing import Optional

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.cmu import LABELS, CmuCorpus, prepare_cmu
from emotion2vec.fileutils import PathLike

MOSI = CmuCorpus(
    name="mosi",
    title="CMU-MOSI",
    csd_names=("CMU_MOSI_Opinion_Labels.csd",),
    folds_names=("cmu_mosi_std_folds.py",),
    expected={
        "train": {"positive": 679, "negative": 552, "neutral": 53},
        "valid": {"positive": 124, "negative": 92, "neutral": 13},
        "test": {"positive": 277, "negative": 379, "neutral": 30},
    },
    expected_videos=93,
)
"""CMU-MOSI's facts (datasets.md 3.3: counts of the standard folds)."""


@register_corpus(
    "mosi",
    labels=LABELS,
    # Paper Table 7: the standard train / valid / test folds.
    protocols={"predefined": {}},
    value_column="score",
)
def prepare_mosi(
    src_dir: PathLike,
    out_dir: PathLike,
    label_source: str = "auto",
    folds_file: Optional[PathLike] = None,
    decode_audio: bool = False,
) -> Path:
    """Writes ``OUT_DIR/mosi.csv`` from CMU-MOSI in any supported form.

    Arguments
    ---------
    src_dir : str or path
        Folder holding the corpus (any depth).
    out_dir : str or path
        Output folder.
    label_source : str
        ``auto`` (MMSA ``label.csv`` if present, else the ``.csd``),
        ``label_csv`` or ``csd`` (needs ``h5py``: ``emotion2vec[cmu]``).
    folds_file : str or path, optional
        ``cmu_mosi_std_folds.py`` (or a JSON of the three video lists) when
        the labels give no split and ``src_dir`` holds none.
    decode_audio : bool
        Decode every segment to check it instead of reading headers.

    Returns
    -------
    Path
        The manifest CSV.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "MOSI"
    >>> write_audio(src / "Raw" / "a_b-c_1.wav", torch.zeros(16000))
    >>> _ = (src / "label.csv").write_text(
    ...     "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\\n"
    ...     "a_b-c,1,so good,2.4,0,0,0,Positive,train\\n")
    >>> csv_path = prepare_mosi(src, src.parent / "out")
    >>> print(csv_path.read_text().splitlines()[1])  # doctest: +ELLIPSIS
    a_b-c_1,/...a_b-c_1.wav,1.00000,positive,a_b-c,,,train,2.4,positive,a_b-c,1,,,so good
    """
    return prepare_cmu(MOSI, src_dir, out_dir, label_source=label_source,
                       folds_file=folds_file, decode_audio=decode_audio)
