"""CMU-MOSEI preparation: ``emotion2vec prepare mosei SRC OUT`` -> ``OUT/mosei.csv``.

Sentence segments of YouTube videos (about 1,000 speakers), English, with
the mean sentiment in [-3, 3]. The paper's task (Table 7) is binary:
positive (> 0) against negative (< 0), zero removed, on the standard
CMU-MultimodalSDK folds (2,249 / 300 / 678 videos; 16,326 / 1,871 / 4,659
labelled segments, 12,786 / 1,438 / 3,634 without the zeros).

The CMU raw zip ships whole-video audio (``Raw/Audio/Full/WAV_16000/
<video_id>.wav``): each segment is cut by its transcript times
(``Raw/Transcript/Segmented/Combined/<video_id>.txt``) once into
``OUT/mosei_segments/`` (see :mod:`emotion2vec.corpora.cmu`). Labels:
MMSA's ``MOSEI/label.csv`` or the SDK's ``CMU_MOSEI_Labels.csd`` (its
intervals are matched to the transcript lines by time); splits:
``label.csv``'s ``mode`` or ``cmu_mosei_std_folds.py``.

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path
from typing import Optional

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.cmu import LABELS, CmuCorpus, prepare_cmu
from emotion2vec.fileutils import PathLike

MOSEI = CmuCorpus(
    name="mosei",
    title="CMU-MOSEI",
    csd_names=("CMU_MOSEI_Labels.csd",),
    folds_names=("cmu_mosei_std_folds.py",),
    expected={
        "train": {"positive": 8048, "negative": 4738, "neutral": 3540},
        "valid": {"positive": 932, "negative": 506, "neutral": 433},
        "test": {"positive": 2284, "negative": 1350, "neutral": 1025},
    },
    expected_videos=3227,
    cut_from_video=True,
)
"""CMU-MOSEI's facts (datasets.md 3.4: counts of the standard folds)."""


@register_corpus(
    "mosei",
    labels=LABELS,
    # Paper Table 7: the standard train / valid / test folds.
    protocols={"predefined": {}},
    value_column="score",
)
def prepare_mosei(
    src_dir: PathLike,
    out_dir: PathLike,
    label_source: str = "auto",
    folds_file: Optional[PathLike] = None,
    include_unlabelled: bool = False,
    decode_audio: bool = False,
) -> Path:
    """Writes ``OUT_DIR/mosei.csv`` (and the cut segments) from CMU-MOSEI.

    Arguments
    ---------
    src_dir : str or path
        Folder holding the corpus (any depth).
    out_dir : str or path
        Output folder (``mosei.csv``, ``mosei_segments/``).
    label_source : str
        ``auto`` (MMSA ``label.csv`` if present, else the ``.csd``),
        ``label_csv`` or ``csd`` (needs ``h5py``: ``emotion2vec[cmu]``).
    folds_file : str or path, optional
        ``cmu_mosei_std_folds.py`` (or a JSON of the three video lists) when
        the labels give no split and ``src_dir`` holds none.
    include_unlabelled : bool
        Also cut and list the transcript segments without a label (empty
        ``score``; for pre-training only). Prepare them into a folder of
        their own: the downstream recipes extract features of every row.
    decode_audio : bool
        Decode every segment file to check it instead of reading headers.

    Returns
    -------
    Path
        The manifest CSV.
    """
    return prepare_cmu(MOSEI, src_dir, out_dir, label_source=label_source,
                       folds_file=folds_file, include_unlabelled=include_unlabelled,
                       decode_audio=decode_audio)
