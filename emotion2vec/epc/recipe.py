"""The entry point of ``recipes/IEMOCAP/emotion_prediction/train.py``.

Steps: parse SpeechBrain arguments and load the hparams (a variant
``extends`` the full recipe; every key is a ``--key=value`` override), create
the experiment folder (the whole recipe as run in ``hyperparams.yaml``, a
copy of ``train.py``), prepare IEMOCAP with whole dialogues and transcripts
on the main process (``prepare_iemocap(..., keep_all_utterances=True,
transcripts=True)``; its own folder, the 4-class SER manifest is left
alone), then run the cross-validation (:func:`emotion2vec.epc.crossval.run_epc`).

Authors
 * emotion2vec-sb contributors
"""

import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import speechbrain as sb
from speechbrain.utils.distributed import if_main_process, run_on_main

from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.iemocap import prepare_iemocap
from emotion2vec.downstream.crossval import CrossValError
from emotion2vec.downstream.folds import FoldError
from emotion2vec.downstream.recipe import load_recipe
from emotion2vec.recipe_hparams import save_recipe_hparams

DIALOGUE_PREP_OPTIONS = {"keep_all_utterances": True, "transcripts": True}
"""What EPC asks of the IEMOCAP preparation: every utterance, with its transcript."""


def main(argv: Optional[List[str]] = None, script: Optional[str] = None) -> Dict[str, Any]:
    """Runs the EPC recipe end to end.

    Arguments
    ---------
    argv : list of str
        Command-line arguments (``hparams.yaml`` first).
    script : str, optional
        The recipe's ``train.py`` (copied into the experiment folder).

    Returns
    -------
    dict
        The cross-validation summary (also in ``results.json``).

    Raises
    ------
    SystemExit
        A corpus or setting the recipe cannot use (one line saying why).
    """
    try:
        return _run(argv, script)
    except (CrossValError, PrepError, FoldError, FileNotFoundError, ImportError) as error:
        sys.exit(f"error: {error}")


def _run(argv: Optional[List[str]], script: Optional[str]) -> Dict[str, Any]:
    from emotion2vec.epc.crossval import run_epc

    hparams_file, run_opts, overrides, hparams = load_recipe(argv)
    out = Path(hparams["output_folder"])
    sb.create_experiment_directory(experiment_directory=str(out))
    if if_main_process():
        save_recipe_hparams(hparams_file, overrides, out / "hyperparams.yaml")
        if script is not None:
            shutil.copy(script, out / Path(script).name)
    if not hparams["skip_prep"]:
        run_on_main(
            prepare_iemocap,
            kwargs={"src_dir": hparams["data_folder"], "out_dir": hparams["prep_folder"],
                    **DIALOGUE_PREP_OPTIONS},
        )
    return run_epc(hparams, run_opts)
