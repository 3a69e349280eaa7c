#!/usr/bin/env python3
"""RAVDESS song emotion recognition on a frozen upstream (emotion2vec paper's RAVDESS song row).

Six-class emotion recognition on RAVDESS song (sung statements: neutral,
calm, happy, sad, angry, fearful; 1,012 files of 23 actors, English). All logic is shared with every corpus recipe
(``emotion2vec.downstream.recipe.main``): it prepares the corpus with
``emotion2vec.corpora.ravdess_song`` (``emotion2vec prepare ravdess_song``), builds the
corpus's registered folds and trains and evaluates a head per fold.

To run::

    python train.py hparams/emotion2vec_5fold.yaml \\
        --data_folder=/data/Audio_Song_Actors_01-24 --upstream_source=models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
