#!/usr/bin/env python3
"""AESDD emotion recognition on a frozen upstream (emotion2vec paper's AESDD row).

Five-class emotion recognition on AESDD (Acted Emotional Speech Dynamic
Database, Greek: anger, disgust, fear, happiness, sadness; 604 utterances). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.aesdd`` (``emotion2vec prepare aesdd``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_10fold.yaml \\
        --data_folder=/data/AESDD --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
