#!/usr/bin/env python3
"""RESD emotion recognition on a frozen upstream (emotion2vec paper's RESD row).

Seven-class emotion recognition on RESD (Russian Emotional Speech Dialogs,
Hugging Face ``Aniemore/resd``: anger, disgust, enthusiasm, fear, happiness,
neutral, sadness; 1,396 utterances). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.resd`` (``emotion2vec prepare resd``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_official.yaml \\
        --data_folder=/data/resd --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
