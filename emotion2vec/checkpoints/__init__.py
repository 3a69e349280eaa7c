"""Checkpoints of every origin -> our parameter names (and back).

- :mod:`~emotion2vec.checkpoints.sources`: :func:`read_model_source`, the one
  function that reads any model source (model folder, pre-training results
  dir, released emotion2vec checkpoint, data2vec checkpoint);
- :mod:`~emotion2vec.checkpoints.keys`: official (fairseq / FunASR) key
  names <-> ours;
- :mod:`~emotion2vec.checkpoints.official`: the released on-disk layouts,
  read strictly (architecture, labels, every key checked);
- :mod:`~emotion2vec.checkpoints.funasr`: the FunASR / ModelScope layout we
  write (``model_conf``, ``d2v_model.`` keys);
- :mod:`~emotion2vec.checkpoints.data2vec`: data2vec 2.0 and data2vec audio
  checkpoints as a pre-training start;
- :mod:`~emotion2vec.checkpoints.results`: a pre-training run's student.

Every file is read through :mod:`emotion2vec.safe_load`. The model never
imports this package.

Authors
 * emotion2vec-sb contributors
"""

from emotion2vec.checkpoints.data2vec import (  # noqa: F401
    map_data2vec_audio,
    map_data2vec_multi,
    split_blocks,
)
from emotion2vec.checkpoints.funasr import (  # noqa: F401
    BACKBONE_PREFIX,
    FUNASR_FILES,
    funasr_config,
    funasr_state_dict,
    official_model_conf,
)
from emotion2vec.checkpoints.keys import (  # noqa: F401
    AUDIO,
    map_official_state_dict,
    official_to_ours,
    ours_to_official,
    strip_prefixes,
    to_official_state_dict,
)
from emotion2vec.checkpoints.official import (  # noqa: F401
    RELEASED_STRIDES,
    WEIGHTS_FILES,
    OfficialCheckpoint,
    build_checkpoint,
    check_against_model,
    check_head,
    find_weights_file,
    infer_config_from_state,
    infer_geometry_from_state,
    read_labels,
    read_official_checkpoint,
    read_yaml,
    unwrap_state_dict,
)
from emotion2vec.checkpoints.results import (  # noqa: F401
    MODEL_CONFIG_FILE,
    find_results_checkpoint,
    is_results_dir,
    read_checkpoint_meta,
    read_results_dir,
)
from emotion2vec.checkpoints.sources import ModelSource, read_model_source  # noqa: F401
# CheckpointError lives in safe_load and is re-exported here (its old home).
from emotion2vec.safe_load import CheckpointError, read_json_object  # noqa: F401
