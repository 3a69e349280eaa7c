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
from hyperpyyaml import load_hyperpyyaml

from quickstart import QuickstartError, run_quickstart  # beside this file

if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    try:
        run_quickstart(hparams, device=run_opts["device"] or "cpu")
    except (QuickstartError, ValueError) as error:  # includes preparation errors
        sys.exit(f"quickstart: {error}")
