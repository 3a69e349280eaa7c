#!/usr/bin/env python3
"""emotion2vec pre-training (online distillation from an EMA teacher).

Builds the unlabelled manifest from any mix of prepared corpus CSVs and
folders of audio, then trains the student with
``emotion2vec.pretrain.brain.Emotion2vecPretrainBrain``. Everything the
recipe uses lives in the ``emotion2vec`` package; this file is glue.

To run::

    python train.py hparams/emotion2vec_base.yaml --data_folder /path/to/audio
    torchrun --nproc_per_node 4 train.py hparams/emotion2vec_base.yaml \\
        --data_folder /path/to/audio

An hparams file is either the full recipe (``emotion2vec_base.yaml``) or a
thin variant that ``extends`` it (the ablation files); every key of the
full recipe can be given as ``--key=value`` (a misspelt key lists them).

Authors
 * emotion2vec-sb contributors
"""

import functools
import logging
import sys

from pathlib import Path

import speechbrain as sb
from speechbrain.utils.distributed import if_main_process, run_on_main

from emotion2vec.model.emotion2vec import count_frames
from emotion2vec.pretrain.brain import Emotion2vecPretrainBrain
from emotion2vec.pretrain.data import (
    CropCollate,
    PretrainBatchSampler,
    PretrainDataset,
    batch_audio_summary,
    check_loader_options,
    duration_summary,
    read_manifest,
    shortest_trainable_duration,
)
from emotion2vec.pretrain.corpora import hours_table, prepare_pretrain_corpora
from emotion2vec.pretrain.manifest import build_pretrain_manifest
from emotion2vec.recipe_hparams import RecipeKeyError, load_recipe_hparams, save_recipe_hparams

logger = logging.getLogger(__name__)


def effective_min_duration(hparams):
    """``min_duration``, raised to the shortest file that can train (a
    masked and a kept frame; 45 ms for the released CNN at mask_prob 0.5)."""
    frame_count = functools.partial(count_frames, config=hparams["model"].config)
    floor = shortest_trainable_duration(frame_count, hparams["mask_prob"])
    asked = hparams["min_duration"]
    if asked is None or asked < floor:
        logger.info(
            "min_duration %s raised to %g s: shorter files give the model no masked "
            "and kept frame", asked, floor,
        )
        return floor
    return asked


def prepare_manifests(hparams):
    """Prepares the listed corpora (``pretrain_corpora``) from their folders,
    then writes the training (and optional validation) manifests from them
    and the plain ``train_sources``; the per-corpus hours table goes to the
    log, stdout and ``hours_table``."""
    min_duration = effective_min_duration(hparams)
    corpora = list(hparams["pretrain_corpora"] or [])
    prepared = {}
    if corpora:
        folders = {
            "iemocap": hparams["iemocap_folder"],
            "meld": hparams["meld_folder"],
            "mead": hparams["mead_folder"],
            "mosei": hparams["mosei_folder"],
            "msp_podcast": hparams["msp_podcast_folder"],
        }
        prepared = prepare_pretrain_corpora(
            corpora, folders, hparams["corpora_folder"], hparams["pretrain_corpus_options"]
        )
        table = hours_table(prepared, min_duration)
        print(table)
        logger.info("pre-training corpora:\n%s", table)
        Path(hparams["hours_table"]).parent.mkdir(parents=True, exist_ok=True)
        Path(hparams["hours_table"]).write_text(
            "# Pre-training corpora vs the paper's Table 1\n\n" + table, encoding="utf-8"
        )
    sources = [str(path) for path in prepared.values()] + list(hparams["train_sources"] or [])
    if not sources:
        raise SystemExit("error: no pre-training data: give --data_folder / --train_sources "
                         "or --pretrain_corpora with their folders")
    jobs = [(sources, hparams["train_csv"])]
    if hparams["valid_sources"]:
        jobs.append((hparams["valid_sources"], hparams["valid_csv"]))
    for sources, out_csv in jobs:
        summary = build_pretrain_manifest(
            sources, out_csv,
            min_duration=min_duration,
            max_duration=hparams["max_duration"],
        )
        logger.info("%s: %s", out_csv, {k: v for k, v in summary.items() if k != "failures"})


def dataio_prep(hparams):
    """Datasets and their loader options (batch sampler + collate)."""
    config = hparams["model"].config
    frame_count = functools.partial(count_frames, config=config)
    collate = CropCollate(frame_count, hparams["max_sample_size"])
    loader_options = dict(hparams["train_loader_options"])
    check_loader_options(loader_options)

    def make(csv_path, shuffle):
        rows = read_manifest(csv_path)
        logger.info("%s: %s", csv_path, duration_summary(rows))
        dataset = PretrainDataset(
            rows, frame_count, hparams["clone_batch"], hparams["mask_prob"],
            hparams["mask_length"], hparams["mask_prob_adjust"],
            normalize=config.normalize, seed=hparams["seed"],
        )
        sampler = PretrainBatchSampler(
            dataset, hparams["max_batch_samples"], hparams["max_sample_size"],
            hparams["max_batch_size"], shuffle=shuffle, seed=hparams["seed"],
        )
        audio = batch_audio_summary(sampler, dataset.sizes)
        logger.info(
            "%s: %d batches per epoch feed the model %.2f h of %.2f h (cut: %.1f %% by the "
            "%d-sample crop, %.1f %% by cropping each batch to its shortest file)",
            csv_path, audio["batches"], audio["hours_used"], audio["hours"],
            100 * audio["max_crop_share"], hparams["max_sample_size"] or 0,
            100 * audio["shortest_crop_share"],
        )
        options = dict(loader_options, batch_sampler=sampler, collate_fn=collate)
        return dataset, sampler, options

    train = make(hparams["train_csv"], shuffle=True)
    valid = make(hparams["valid_csv"], shuffle=False) if hparams["valid_sources"] else None
    return train, valid


if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    try:
        hparams = load_recipe_hparams(hparams_file, overrides)
    except (RecipeKeyError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    sb.utils.distributed.ddp_init_group(run_opts)

    sb.create_experiment_directory(experiment_directory=hparams["output_folder"])
    if if_main_process():
        save_recipe_hparams(
            hparams_file, overrides, Path(hparams["output_folder"]) / "hyperparams.yaml"
        )
    if not hparams["skip_prep"]:
        run_on_main(prepare_manifests, kwargs={"hparams": hparams})

    (train_set, train_sampler, train_options), valid = dataio_prep(hparams)

    brain = Emotion2vecPretrainBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    # Without DDP, Brain.fit only calls set_epoch on a sampler it knows.
    brain.train_sampler = train_sampler
    brain.fit(
        brain.hparams.epoch_counter,
        train_set,
        valid[0] if valid else None,
        train_loader_kwargs=train_options,
        valid_loader_kwargs=valid[2] if valid else {},
    )
