#!/usr/bin/env python3
"""IEMOCAP emotion prediction in conversation (emotion2vec paper, Table 6).

Predicts the emotion of a speaker's next turn from the 6 turns before it
with a hierarchical GRU on frozen emotion2vec utterance features, text, or
both; leave-one-speaker-out 10-fold; UAR and macro-F1. Everything lives in
``emotion2vec.epc`` (``emotion2vec.epc.recipe.main``). To run::

    python train.py hparams/epc_speech.yaml \\
        --data_folder /data/IEMOCAP_full_release \\
        --upstream_source models/emotion2vec_base

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.epc.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
