"""``emotion2vec convert``: released checkpoints -> our model folder.

Authors
 * emotion2vec-sb contributors
"""

import logging
from pathlib import Path
from typing import Union

from emotion2vec.checkpoints import read_model_source
from emotion2vec.fileutils import sha256_file
from emotion2vec.model_folder import save_model_folder

logger = logging.getLogger(__name__)


def convert_checkpoint(
    src: Union[str, Path],
    out_dir: Union[str, Path],
    overwrite: bool = False,
    trust: bool = False,
) -> Path:
    """Converts any released emotion2vec checkpoint into a model folder.

    Read with ``emotion2vec.checkpoints.read_model_source`` (see
    ``emotion2vec.checkpoints.read_official_checkpoint`` for the accepted
    layouts). Conversion is strict: a missing, unexpected or mis-shaped key
    fails the conversion with every offending key named. Nothing in the
    checkpoint runs (see :mod:`emotion2vec.safe_load`) unless ``trust``;
    the model folder is written only once everything was read and checked.

    Arguments
    ---------
    src : str or Path
        Checkpoint file or hub folder.
    out_dir : str or Path
        Model folder to write.
    overwrite : bool
        Replace an existing model folder.
    trust : bool
        Allow full unpickling of a checkpoint that the safe load refuses:
        it runs any code in the file (``--trust-checkpoint``).

    Returns
    -------
    Path
        The model folder.
    """
    checkpoint = read_model_source(src, trust=trust)
    src = Path(src)
    files = [src] if src.is_file() else sorted(p for p in src.iterdir() if p.is_file())
    source = {
        "converted_from": str(src.resolve()),
        "read": checkpoint.source.get("read", str(src)),
        "sha256": {p.name: sha256_file(p) for p in files if p.suffix in (".pt", ".txt", ".yaml")},
        "official_model_conf": checkpoint.official_config,
        "labels": checkpoint.labels,
    }
    out = save_model_folder(
        out_dir, checkpoint.config, checkpoint.state_dict, checkpoint.labels,
        source=source, overwrite=overwrite,
    )
    logger.info(
        "converted %s -> %s (D=%d, %d+%d blocks, head=%d, decoder=%s)",
        src, out, checkpoint.config.embed_dim, checkpoint.config.prenet_depth,
        checkpoint.config.depth, checkpoint.config.num_labels,
        checkpoint.config.build_decoder,
    )
    return out
