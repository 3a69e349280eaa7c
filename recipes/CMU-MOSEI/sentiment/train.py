#!/usr/bin/env python3
"""CMU-MOSEI sentiment analysis on a frozen upstream (emotion2vec paper, Table 7).

Two variants on the standard train / valid / test folds, features = the
mean of the last four blocks, linear head:

* ``hparams/emotion2vec_binary.yaml``: the paper's binary task (zero-score
  segments removed, positive vs negative), metric WF1;
* ``hparams/emotion2vec_regression.yaml``: MERBench's practice (regress the
  score, binarise at 0 for ACC-2 / WF1; MAE, Pearson r).

Everything lives in the ``emotion2vec`` package
(``emotion2vec.downstream.recipe.main``, shared by every corpus recipe):
prepare the manifest (``emotion2vec prepare mosei SRC OUT``), then run the
protocol (``emotion2vec.downstream.crossval``).

To run::

    python train.py hparams/emotion2vec_binary.yaml \\
        --data_folder /data/CMU-MOSEI --upstream_source models/emotion2vec_base

Every key is a ``--key=value`` override (``emotion2vec.recipe_hparams``).

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
