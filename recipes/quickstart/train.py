#!/usr/bin/env python3
"""The offline quickstart: pre-training, frozen probing and inference on a
synthetic acted-emotion corpus (or on any corpus in RAVDESS's layout), in
minutes on a CPU, with no download.

Run from anywhere (relative paths are relative to where you stand)::

    python recipes/quickstart/train.py recipes/quickstart/hparams/quickstart.yaml
    python recipes/quickstart/train.py recipes/quickstart/hparams/quickstart.yaml \\
        --corpus_folder=/data/Audio_Speech_Actors_01-24 --output_folder=results/qs_ravdess

Stages and outputs: see ``quickstart.py`` beside this file; finished stages
are reused on a re-run.

Authors
 * emotion2vec-sb contributors
"""

import sys

import speechbrain as sb

from emotion2vec.recipe_hparams import RecipeKeyError, load_recipe_hparams
from quickstart import QuickstartError, run_quickstart  # beside this file

if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    try:
        hparams = load_recipe_hparams(hparams_file, overrides)
    except (RecipeKeyError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    try:
        run_quickstart(hparams, device=run_opts["device"] or "cpu")
    except (QuickstartError, ValueError) as error:  # includes preparation errors
        sys.exit(f"quickstart: {error}")
