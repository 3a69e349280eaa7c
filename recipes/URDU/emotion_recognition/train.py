#!/usr/bin/env python3
"""URDU emotion recognition on a frozen upstream (emotion2vec paper's URDU row).

Four-class emotion recognition on the URDU dataset (Urdu talk shows: angry,
happy, neutral, sad; 400 utterances). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.urdu`` (``emotion2vec prepare urdu``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_10fold.yaml \\
        --data_folder=/data/URDU-Dataset --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
