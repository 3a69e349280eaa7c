#!/usr/bin/env python3
"""RAVDESS (speech) emotion recognition on a frozen upstream.

The paper's RAVDESS row (Table 4: random 10-fold, 80/10/10) and a
speaker-independent leave-one-actor-out variant. All logic is shared with
every corpus recipe (``emotion2vec.downstream.recipe.main``); the corpus is
prepared by ``emotion2vec.corpora.ravdess`` (``emotion2vec prepare ravdess``).

To run::

    python train.py hparams/emotion2vec_10fold.yaml \\
        --data_folder /data/Audio_Speech_Actors_01-24 --upstream_source models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
