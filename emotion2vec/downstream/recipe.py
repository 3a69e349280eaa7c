"""The downstream recipe entry point every corpus recipe shares.

A corpus recipe is a preparation function (registered in
``emotion2vec.corpora``) plus hparams files; its ``train.py`` only calls
:func:`main`::

    python train.py hparams/X.yaml --data_folder ... --upstream_source ...

Steps: parse SpeechBrain arguments, initialise DDP, load the hparams
(unwrapping a thin ``recipe: !include:...`` variant), create the
experiment folder (with a copy of the recipe's ``train.py``), prepare the
corpus on the main process (``emotion2vec prepare CORPUS ...`` runs the
same function), then run the cross-validation
(:func:`emotion2vec.downstream.crossval.run_crossval`).

Authors
 * emotion2vec-sb contributors
"""

import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import if_main_process, run_on_main

from emotion2vec.corpora import prepare_corpus
from emotion2vec.downstream.crossval import run_crossval


def load_recipe(argv: List[str]):
    """Parses the command line and loads (and unwraps) the hparams.

    Arguments
    ---------
    argv : list of str
        ``hparams.yaml`` followed by SpeechBrain options and overrides.

    Returns
    -------
    hparams_file : str
    run_opts : RunOptions
    overrides : str
    hparams : dict
        The full recipe (a thin variant's ``recipe`` entry when present).
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    return hparams_file, run_opts, overrides, hparams.get("recipe", hparams)


def main(argv: Optional[List[str]] = None, script: Optional[str] = None) -> Dict[str, Any]:
    """Runs a downstream recipe end to end.

    Arguments
    ---------
    argv : list of str
        Command-line arguments (``hparams.yaml`` first).
    script : str, optional
        The recipe's ``train.py`` (copied into the experiment folder, as
        SpeechBrain does for the script that creates it).

    Returns
    -------
    dict
        The cross-validation summary (also in ``results.json``).
    """
    hparams_file, run_opts, overrides, hparams = load_recipe(argv)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    if script is not None and if_main_process():
        shutil.copy(script, Path(hparams["output_folder"]) / Path(script).name)
    if not hparams["skip_prep"]:
        run_on_main(
            prepare_corpus,
            kwargs={
                "name": hparams["corpus"],
                "src_dir": hparams["data_folder"],
                "out_dir": hparams["prep_folder"],
            },
        )
    return run_crossval(hparams, run_opts)
