#!/usr/bin/env python3
"""CaFE emotion recognition on a frozen upstream (emotion2vec paper's CaFE row).

Seven-class emotion recognition on CaFE (Canadian French Emotional speech:
anger, disgust, happiness, neutral, fear, surprise, sadness; 936 utterances
of 12 actors, two intensities). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.cafe`` (``emotion2vec prepare cafe``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_10fold.yaml \\
        --data_folder=/data/CaFE_48k --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
