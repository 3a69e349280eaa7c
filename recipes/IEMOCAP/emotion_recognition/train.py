#!/usr/bin/env python3
"""IEMOCAP 4-class speech emotion recognition on a frozen upstream.

Reproduces the emotion2vec paper's IEMOCAP rows (Table 2: leave-one-session-
out 5-fold and leave-one-speaker-out 10-fold, with and without the "*"
validation-on-test variant; Table 9: Utt / Frm / Utt+Frm features) and the
baseline upstreams (wav2vec 2.0, HuBERT, WavLM, data2vec, filterbanks).
Everything lives in the ``emotion2vec`` package
(``emotion2vec.downstream.recipe.main``, shared by every corpus recipe):

1. prepare the manifest (``emotion2vec.corpora.prepare_corpus``, the same
   function as ``emotion2vec prepare iemocap SRC OUT``);
2. run the cross-validation (``emotion2vec.downstream.crossval``): cached
   upstream features, one head per fold, ``results.json`` / ``results.md``.

To run::

    python train.py hparams/emotion2vec_loso_session.yaml \\
        --data_folder /data/IEMOCAP_full_release \\
        --upstream_source models/emotion2vec_base

A variant ``extends`` the shared recipe; every key is a ``--key=value``
override (``emotion2vec.recipe_hparams``).

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.downstream.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
