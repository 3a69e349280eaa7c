#!/usr/bin/env python3
"""The offline quickstart: pre-training, frozen probing and inference on a
synthetic acted-emotion corpus, in minutes on a CPU, with no download.

Run from the repository root::

    python recipes/quickstart/train.py recipes/quickstart/hparams/quickstart.yaml

Stages and outputs: see ``emotion2vec.quickstart`` (all logic lives there);
finished stages are reused on a re-run.

Authors
 * emotion2vec-sb contributors
"""

import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from emotion2vec.quickstart import QuickstartError, run_quickstart

if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    try:
        run_quickstart(hparams, device=run_opts["device"] or "cpu")
    except (QuickstartError, ValueError) as error:  # includes preparation errors
        sys.exit(f"quickstart: {error}")
