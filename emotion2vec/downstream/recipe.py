"""The downstream recipe entry point every corpus recipe shares.

A corpus recipe is a preparation function (registered in
``emotion2vec.corpora``) plus hparams files; its ``train.py`` only calls
:func:`main`::

    python train.py hparams/X.yaml --data_folder ... --upstream_source ...

Steps: parse SpeechBrain arguments, initialise DDP, load the hparams
(a variant ``extends`` the shared recipe: :mod:`emotion2vec.recipe_hparams`;
every key is a ``--key=value`` override), create the experiment folder
(with the whole recipe as run in ``hyperparams.yaml`` and a copy of the
recipe's ``train.py``), prepare the
corpus on the main process (``emotion2vec prepare CORPUS ...`` runs the
same function), then run the cross-validation
(:func:`emotion2vec.downstream.crossval.run_crossval`).

Authors
 * emotion2vec-sb contributors
"""

import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import speechbrain as sb
from speechbrain.utils.distributed import if_main_process, run_on_main

from emotion2vec.corpora import prepare_corpus
from emotion2vec.corpora.common import PrepError
from emotion2vec.downstream.crossval import CrossValError, run_crossval
from emotion2vec.recipe_hparams import RecipeKeyError, load_recipe_hparams, save_recipe_hparams


def load_recipe(argv: List[str]):
    """Parses the command line and loads the hparams (following ``extends``).

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
        The full recipe, overrides applied.

    Raises
    ------
    SystemExit
        A key the recipe does not have (the message lists its keys).
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    try:
        hparams = load_recipe_hparams(hparams_file, overrides)
    except (RecipeKeyError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    sb.utils.distributed.ddp_init_group(run_opts)
    return hparams_file, run_opts, overrides, hparams


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

    Raises
    ------
    SystemExit
        A corpus or setting the recipe cannot use (one line saying why).
    """
    try:
        return _run(argv, script)
    except (CrossValError, PrepError) as error:  # bad input: one clear line, no traceback
        sys.exit(f"error: {error}")


def _run(argv: Optional[List[str]], script: Optional[str]) -> Dict[str, Any]:
    return run_recipe(*load_recipe(argv), script=script)


def run_recipe(
    hparams_file: str, run_opts, overrides: str, hparams: Dict[str, Any],
    script: Optional[str] = None,
) -> Dict[str, Any]:
    """Runs a loaded downstream recipe (what :func:`main` does after
    :func:`load_recipe`): experiment folder, preparation, cross-validation.

    Arguments
    ---------
    hparams_file : str
        The hparams file given.
    run_opts : RunOptions
        SpeechBrain run options.
    overrides : str
        Command-line overrides.
    hparams : dict
        The loaded recipe.
    script : str, optional
        The recipe's ``train.py`` (copied into the experiment folder).

    Returns
    -------
    dict
        The cross-validation summary.
    """
    start_experiment(hparams_file, overrides, hparams, script)
    return run_crossval(hparams, run_opts)


def start_experiment(
    hparams_file: str, overrides: str, hparams: Dict[str, Any], script: Optional[str] = None
) -> Path:
    """The experiment folder and the corpus manifest, as every recipe starts.

    Creates ``output_folder`` (SpeechBrain's logs), writes the whole recipe
    as run (``hyperparams.yaml``) and a copy of ``script``, then prepares
    ``corpus`` from ``data_folder`` into ``prep_folder`` on the main process
    (unless ``skip_prep``).

    Arguments
    ---------
    hparams_file : str
        The hparams file given.
    overrides : str
        Command-line overrides.
    hparams : dict
        The loaded recipe.
    script : str, optional
        The recipe's ``train.py``.

    Returns
    -------
    Path
        The output folder.
    """
    out = Path(hparams["output_folder"])
    sb.create_experiment_directory(experiment_directory=str(out))
    if if_main_process():
        save_recipe_hparams(hparams_file, overrides, out / "hyperparams.yaml")
        if script is not None:
            shutil.copy(script, out / Path(script).name)
    if not hparams["skip_prep"]:
        run_on_main(
            prepare_corpus,
            kwargs={
                "name": hparams["corpus"],
                "src_dir": hparams["data_folder"],
                "out_dir": hparams["prep_folder"],
            },
        )
    return out
