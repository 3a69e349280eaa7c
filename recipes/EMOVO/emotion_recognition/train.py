#!/usr/bin/env python3
"""EMOVO emotion recognition on a frozen upstream (emotion2vec paper's EMOVO row).

Seven-class emotion recognition on EMOVO (Italian: disgust, joy, neutral,
fear, anger, surprise, sadness; 588 utterances of 6 actors). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.emovo`` (``emotion2vec prepare emovo``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_10fold.yaml \\
        --data_folder=/data/EMOVO --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
