#!/usr/bin/env python3
"""SAVEE emotion recognition on a frozen upstream (emotion2vec paper's SAVEE row).

Seven-class emotion recognition on SAVEE (Surrey Audio-Visual Expressed
Emotion: anger, disgust, fear, happiness, neutral, sadness, surprise; 480
utterances of 4 male British English speakers, acted). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.savee`` (``emotion2vec prepare savee``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_10fold.yaml \\
        --data_folder=/data/SAVEE --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
