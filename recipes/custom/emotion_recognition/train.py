#!/usr/bin/env python3
"""Emotion recognition on your own data, any label set: frozen probe,
partial or full fine-tuning of emotion2vec (``emotion2vec.finetune.recipe``).

To run::

    python train.py hparams/finetune.yaml --data_folder=ROOT \\
        --upstream_source=MODEL_DIR --output_folder=OUT

``ROOT`` is a CSV manifest (``wav,label[,speaker,split]``) or a folder with
one subfolder per class; the classifier ends up in ``OUT/classifier``
(``emotion2vec classify --model OUT/classifier FILES``). See README.md.

Authors
 * emotion2vec-sb contributors
"""

import sys

from emotion2vec.finetune.recipe import main

if __name__ == "__main__":
    main(sys.argv[1:], script=__file__)
