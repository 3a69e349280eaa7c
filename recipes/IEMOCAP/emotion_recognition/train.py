#!/usr/bin/env python3
"""IEMOCAP 4-class speech emotion recognition on a frozen upstream.

Reproduces the emotion2vec paper's IEMOCAP rows (Table 2: leave-one-session-
out 5-fold and leave-one-speaker-out 10-fold, with and without the "*"
validation-on-test variant; Table 9: Utt / Frm / Utt+Frm features) and the
baseline upstreams (wav2vec 2.0, HuBERT, WavLM, data2vec, filterbanks).
Everything lives in the ``emotion2vec`` package; this file is glue that
any corpus recipe can copy unchanged:

1. prepare the manifest (``emotion2vec.corpora.prepare_corpus``, the same
   function as ``emotion2vec prepare iemocap SRC OUT``);
2. run the cross-validation (``emotion2vec.downstream.crossval``): cached
   upstream features, one head per fold, ``results.json`` / ``results.md``.

To run::

    python train.py hparams/emotion2vec_loso_session.yaml \\
        --data_folder /data/IEMOCAP_full_release \\
        --upstream_source models/emotion2vec_base

A thin variant (``recipe: !include:...``) is unwrapped before use.

Authors
 * emotion2vec-sb contributors
"""

import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import run_on_main

from emotion2vec.corpora import prepare_corpus
from emotion2vec.downstream.crossval import run_crossval

if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    hparams = hparams.get("recipe", hparams)  # thin variants wrap a full recipe

    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    if not hparams["skip_prep"]:
        run_on_main(
            prepare_corpus,
            kwargs={
                "name": hparams["corpus"],
                "src_dir": hparams["data_folder"],
                "out_dir": hparams["prep_folder"],
            },
        )
    run_crossval(hparams, run_opts)
