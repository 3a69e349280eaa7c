#!/usr/bin/env python3
"""SUBESCO emotion recognition on a frozen upstream (emotion2vec paper's SUBESCO row).

Seven-class emotion recognition on SUBESCO (SUST Bangla Emotional Speech
Corpus: angry, disgust, fear, happy, neutral, sad, surprise; 7,000
utterances of 20 speakers). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.subesco`` (``emotion2vec prepare subesco``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_10fold.yaml \\
        --data_folder=/data/SUBESCO --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
