#!/usr/bin/env python3
"""M3ED emotion recognition on a frozen upstream (emotion2vec paper's M3ED row).

Seven-class emotion recognition on M3ED (Multi-modal Multi-scene Multi-label
Emotional Dialogue, Mandarin TV series: happy, neutral, sad, disgust, anger,
fear, surprise; 24,449 utterances of 626 speakers). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.m3ed`` (``emotion2vec prepare m3ed``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_10fold.yaml \\
        --data_folder=/data/M3ED --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
