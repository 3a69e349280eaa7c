#!/usr/bin/env python3
"""MELD emotion recognition on a frozen upstream (emotion2vec paper's MELD row).

Seven-class emotion recognition on MELD (Friends TV series dialogues,
English, spontaneous-acted: neutral, surprise, fear, sadness, joy, disgust,
anger in MELD's own index order). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.meld`` (``emotion2vec prepare meld``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_official.yaml \\
        --data_folder=/data/MELD.Raw --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
