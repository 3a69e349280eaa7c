#!/usr/bin/env python3
"""ShEMO emotion recognition on a frozen upstream (emotion2vec paper's ShEMO row).

Six-class emotion recognition on ShEMO (Sharif Emotional Speech Database,
Persian radio plays: anger, fear, happiness, neutral, sadness, surprise;
3,000 utterances of 87 speakers). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.shemo`` (``emotion2vec prepare shemo``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_10fold.yaml \\
        --data_folder=/data/ShEMO --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
