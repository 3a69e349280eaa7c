"""Leave-one-speaker-out cross-validation of emotion prediction in conversation.

:func:`run_epc` takes the loaded hparams of the EPC recipe and runs the
whole protocol on an IEMOCAP manifest of whole dialogues (every utterance,
with transcripts):

1. dialogues -> turns -> samples (:mod:`emotion2vec.epc.dialogues`);
2. folds of SAMPLES by target speaker (``loso_speaker`` of
   :func:`emotion2vec.downstream.folds.make_folds` on one row per sample,
   ``speaker`` = the target speaker; the other speaker of the test
   session validates), checked so that no dialogue gives both training
   and held-out samples;
3. frozen inputs computed once: speech = the upstream's utterance vectors
   through the shared feature cache (``frm_mean``: the mean of the last
   block's frames, :class:`~emotion2vec.downstream.features.FeatureCache`),
   text = BERT vectors (:class:`~emotion2vec.epc.text.TextVectorCache`) or,
   per fold, a SentencePiece tokenizer trained on that fold's training
   transcripts;
4. per fold a fresh model seeded with ``seed + fold index``, trained with
   :class:`~emotion2vec.epc.brain.EpcBrain`, tested on the checkpoint with
   the best validation UAR;
5. mean and population std over folds of UAR (= UA), macro-F1, WA and WF1.

Output folder layout (as the SER driver, :mod:`emotion2vec.downstream.crossval`)::

    <output_folder>/run.json, results.json, results.md, confusion_matrix.png
    <output_folder>/folds/<fold>/  train_log.txt, save/, tokenizer.model
        (text), split.json (sample IDs), predictions.csv, best_model.ckpt,
        confusion_matrix.png, fold_result.json (written last: the fold is done)

A re-run skips finished folds and resumes an interrupted one from its last
checkpoint; other settings in the same folder are refused.

Authors
 * emotion2vec-sb contributors
"""

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process, infer_device, run_on_main

from emotion2vec.corpora import corpus_info
from emotion2vec.corpora.manifest import read_manifest
from emotion2vec.downstream import plots
from emotion2vec.downstream.crossval import (
    FOLD_RESULT_FILE,
    METRIC_KEYS,
    RESULTS_FILE,
    TABLE_FILE,
    CrossValError,
    aggregate,
    check_run_file,
    describe_protocol,
    ids_digest,
    run_option,
    write_json,
)
from emotion2vec.downstream.features import FeatureCache
from emotion2vec.downstream.folds import Fold, make_folds
from emotion2vec.downstream.upstreams import build_upstream
from emotion2vec.epc.brain import EpcBrain
from emotion2vec.epc.data import EpcDataset, UtteranceVectors, collate_samples
from emotion2vec.epc.dialogues import (
    REQUIRED_COLUMNS,
    EpcSample,
    build_dialogues,
    check_dialogues_apart,
    make_samples,
)
from emotion2vec.epc.model import build_model, model_spec
from emotion2vec.epc.text import (
    TEXT_ENCODERS,
    SentencePieceTokenizer,
    TextVectorCache,
    hf_text_encoder,
    train_sentencepiece,
)
from emotion2vec.fileutils import sha256_file

logger = logging.getLogger(__name__)

CORPUS = "iemocap"
MODALITIES = {"speech": (True, False), "text": (False, True), "speech+text": (True, True)}
"""Modality -> (speech input, text input)."""
MODEL_FILE = "best_model.ckpt"
TOKENIZER_FILE = "tokenizer.model"


def parse_modality(name: str) -> Tuple[bool, bool]:
    """``speech``, ``text`` or ``speech+text`` (``text+speech``) -> (speech, text).

    Example
    -------
    >>> parse_modality("Text+Speech")
    (True, True)
    """
    key = str(name).strip().lower().replace(" ", "")
    key = "speech+text" if key == "text+speech" else key
    if key not in MODALITIES:
        raise CrossValError(f"modality must be one of {', '.join(MODALITIES)}, got {name!r}")
    return MODALITIES[key]


@dataclass
class EpcInputs:
    """What the folds read: frozen vectors, transcripts and the text encoder kind.

    Arguments
    ---------
    vectors : UtteranceVectors or None
        Frozen speech and/or BERT vectors.
    texts : dict
        Utterance ID -> transcript (for the SentencePiece encoder).
    tokenized : bool
        Whether a SentencePiece tokenizer is trained per fold.
    """

    vectors: Optional[UtteranceVectors]
    texts: Dict[str, str]
    tokenized: bool


def fold_utterances(samples: Sequence[EpcSample]) -> List[str]:
    """Every utterance in the histories of ``samples`` (sorted IDs).

    The training fold's utterances are what input statistics and the
    tokenizer are computed from: no valid or test dialogue is among them
    (:func:`~emotion2vec.epc.dialogues.check_dialogues_apart`).

    Example
    -------
    >>> from emotion2vec.epc.dialogues import Turn, Utterance
    >>> turn = Turn("A", (Utterance("u2", "A", 0, 1, "neu"), Utterance("u1", "A", 1, 2, "neu")))
    >>> fold_utterances([EpcSample("d_T001", "d", "1", "B", "neu", 1, (turn,))] * 2)
    ['u1', 'u2']
    """
    return sorted({uid for sample in samples for uid in sample.utt_ids})


def _speech_source(hparams, rows, device, progress) -> Tuple[Any, Dict[str, Any]]:
    upstream = build_upstream(hparams["upstream_kind"], hparams["upstream_source"],
                              hparams["upstream_options"])
    cache = FeatureCache(
        hparams["feature_cache_folder"], upstream, hparams["feature"], rows, corpus=CORPUS,
        dtype=hparams["cache_dtype"], batch_seconds=hparams["extract_batch_seconds"],
        device=device, progress=progress,
    )
    run_on_main(cache.build)
    info = {
        "kind": upstream.kind, "name": upstream.describe(),
        "model_dir": getattr(upstream, "model_dir", None),
        "weights_sha256": cache.material["upstream"]["weights_sha256"],
        "feature": cache.option.name, "cache": str(cache.path),
    }
    return cache.open(), info


def _bert_source(hparams, texts, device) -> Tuple[Any, Dict[str, Any]]:
    identity, encode = hf_text_encoder(hparams["bert_source"], hparams["bert_pooling"],
                                       hparams["max_tokens"], device=device)
    cache = TextVectorCache(hparams["feature_cache_folder"], texts, identity, encode,
                            name=f"{CORPUS}-text-bert")
    run_on_main(cache.build)
    return cache.build(), {"bert_source": str(Path(hparams["bert_source"]).resolve()),
                           "key": cache.key, "cache": str(cache.path)}


def prepare_inputs(hparams: Mapping[str, Any], rows: Sequence[Mapping[str, str]], run_opts=None):
    """Builds the frozen inputs of the recipe's modality.

    Arguments
    ---------
    hparams : mapping
        Recipe hparams.
    rows : sequence of mapping
        Manifest rows (every utterance).
    run_opts : RunOptions or dict, optional
        ``device``, ``noprogressbar``.

    Returns
    -------
    inputs : EpcInputs
    info : dict
        What the inputs depend on (for ``run.json``).
    """
    speech, text = parse_modality(hparams["modality"])
    encoder = str(hparams["text_encoder"]).lower()
    if text and encoder not in TEXT_ENCODERS:
        raise CrossValError(f"text_encoder must be one of {TEXT_ENCODERS}, got {encoder!r}")
    if text and any("text" not in row for row in rows[:1]):
        raise CrossValError(
            f"{hparams['manifest_file']} has no text column: prepare IEMOCAP with transcripts=True"
        )
    device = run_option(run_opts, "device") or infer_device()
    progress = not run_option(run_opts, "noprogressbar", False)
    texts = {row["ID"]: row.get("text", "") for row in rows}
    sources, info = [], {}
    if speech:
        store, info["speech"] = _speech_source(hparams, rows, device, progress)
        sources.append(store)
    if text and encoder == "bert":
        store, info["text"] = _bert_source(hparams, texts, device)
        sources.append(store)
    elif text:
        info["text"] = {key: hparams[key] for key in ("vocab_size", "sp_model_type", "max_tokens")}
    if text:
        info["text"]["encoder"] = encoder
    vectors = UtteranceVectors(sources) if sources else None
    if vectors is not None:
        vectors.get(rows[0]["ID"])  # fixes vectors.dim
    return EpcInputs(vectors, texts, text and encoder == "sentencepiece"), info


def make_epc_folds(hparams: Mapping[str, Any], samples: Sequence[EpcSample]) -> List[Fold]:
    """The folds of samples (by target speaker), with the dialogue check.

    Arguments
    ---------
    hparams : mapping
        ``protocol`` and ``fold_options``.
    samples : sequence of EpcSample
        Every sample.

    Returns
    -------
    list of Fold
    """
    folds = make_folds(hparams["protocol"], [s.row() for s in samples],
                       **dict(hparams["fold_options"] or {}))
    dialog_of = {s.sample_id: s.dialog for s in samples}
    for fold in folds:
        check_dialogues_apart(fold, dialog_of)
    return folds


def run_epc(hparams: Dict[str, Any], run_opts=None) -> Dict[str, Any]:
    """Runs every fold of the EPC recipe and aggregates the results.

    Arguments
    ---------
    hparams : dict
        Loaded recipe hparams (``recipes/IEMOCAP/emotion_prediction/hparams``).
    run_opts : RunOptions or dict, optional
        SpeechBrain run options.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    run_opts = run_opts if run_opts is not None else {}
    out = Path(hparams["output_folder"])
    rows = read_manifest(hparams["manifest_file"], columns=REQUIRED_COLUMNS)
    labels = [str(label) for label in (hparams["labels"] or corpus_info(CORPUS).labels)]
    samples = make_samples(build_dialogues(rows), labels, int(hparams["history_turns"]),
                           int(hparams["min_history_turns"]), hparams["turn_label"])
    if not samples:
        raise CrossValError(f"no prediction sample in {hparams['manifest_file']}")
    folds = make_epc_folds(hparams, samples)
    wanted = hparams["run_folds"]
    if wanted:
        unknown = sorted(set(wanted) - {f.name for f in folds})
        if unknown:
            raise CrossValError(f"run_folds {unknown} not in {[f.name for f in folds]}")
    inputs, info = prepare_inputs(hparams, rows, run_opts)
    spec = model_spec(len(labels), {
        "vector_dim": inputs.vectors.dim if inputs.vectors else 0,
        "vocab_size": 0,  # set per fold, from the fold's tokenizer
        "input_norm": hparams["input_norm"], "text_embed_dim": hparams["text_embed_dim"],
        "text_hidden": hparams["text_hidden"], "utt_hidden": hparams["utt_hidden"],
        "turn_hidden": hparams["turn_hidden"], "dropout": hparams["dropout"],
        "speaker_flag": hparams["speaker_flag"],
    })
    settings = {
        "task": "emotion prediction in conversation",
        "corpus": CORPUS,
        "manifest": str(Path(hparams["manifest_file"]).resolve()),
        "manifest_sha256": sha256_file(hparams["manifest_file"]),
        "modality": hparams["modality"],
        "inputs": {k: {kk: vv for kk, vv in v.items() if kk != "cache"} for k, v in info.items()},
        "labels": labels,
        "samples": {"history_turns": int(hparams["history_turns"]),
                    "min_history_turns": int(hparams["min_history_turns"]),
                    "turn_label": hparams["turn_label"], "count": len(samples)},
        "model": spec,
        "training": {k: hparams[k] for k in ("number_of_epochs", "batch_size", "lr", "weight_decay")},
        "protocol": hparams["protocol"],
        "fold_options": dict(hparams["fold_options"] or {}),
        "num_folds": len(folds),
        "seed": int(hparams["seed"]),
        "feature_cache": {k: v.get("cache") for k, v in info.items()},
    }
    if if_main_process():
        out.mkdir(parents=True, exist_ok=True)
        check_run_file(out, settings)
    by_id = {s.sample_id: s for s in samples}
    results = [
        run_epc_fold(hparams, run_opts, fold, index, by_id, labels, inputs, spec)
        for index, fold in enumerate(folds)
        if not wanted or fold.name in wanted
    ]
    summary = aggregate(results, settings)
    if if_main_process():
        write_epc_results(out, summary, labels, hparams)
    return summary


def _fold_tokens(fold_dir: Path, train_utts, used_utts, inputs: EpcInputs, hparams):
    """Trains (once) the fold's tokenizer on its training transcripts; tokenises the fold."""
    model_path = fold_dir / TOKENIZER_FILE
    if not model_path.is_file():  # an interrupted fold keeps the tokenizer its checkpoints use
        run_on_main(train_sentencepiece, kwargs={
            "texts": [inputs.texts[uid] for uid in train_utts], "model_path": model_path,
            "vocab_size": int(hparams["vocab_size"]), "model_type": hparams["sp_model_type"],
        })
    tokenizer = SentencePieceTokenizer(model_path)
    encoded = tokenizer.encode([inputs.texts[uid] for uid in used_utts], int(hparams["max_tokens"]))
    return dict(zip(used_utts, encoded)), tokenizer.vocab_size


def run_epc_fold(
    hparams: Mapping[str, Any],
    run_opts,
    fold: Fold,
    index: int,
    by_id: Mapping[str, EpcSample],
    labels: Sequence[str],
    inputs: EpcInputs,
    spec: Mapping[str, Any],
) -> Dict[str, Any]:
    """Trains and tests one fold (or returns its finished result).

    Arguments
    ---------
    hparams : mapping
        Recipe hparams.
    run_opts : RunOptions or dict
        SpeechBrain run options.
    fold : Fold
        Sample IDs of the split.
    index : int
        Fold index (the model is seeded with ``seed + index``).
    by_id : mapping
        Sample ID -> EpcSample.
    labels : sequence of str
        Class order.
    inputs : EpcInputs
        Frozen vectors and transcripts.
    spec : mapping
        Model spec without the vocabulary (:func:`~emotion2vec.epc.model.model_spec`).

    Returns
    -------
    dict
        The fold result (``fold_result.json``).
    """
    fold_dir = Path(hparams["output_folder"]) / "folds" / fold.name
    done = fold_dir / FOLD_RESULT_FILE
    digest = ids_digest(fold)
    if done.is_file():
        result = json.loads(done.read_text(encoding="utf-8"))
        if result.get("ids_sha256") != digest:
            raise CrossValError(
                f"{done}: this fold was run on other samples (fold definition changed); "
                "use another output_folder or delete the fold folder"
            )
        logger.info("fold %s already done (UAR %.4f); skipping", fold.name, result["ua"])
        return result
    fold_dir.mkdir(parents=True, exist_ok=True)
    sets = {name: [by_id[i] for i in ids] for name, ids in
            (("train", fold.train_ids), ("valid", fold.valid_ids), ("test", fold.test_ids))}
    train_utts = fold_utterances(sets["train"])
    sb.utils.seed.seed_everything(int(hparams["seed"]) + index, verbose=False)
    tokens, spec = None, dict(spec)
    if inputs.tokenized:
        used = fold_utterances([s for part in sets.values() for s in part])
        tokens, spec["vocab_size"] = _fold_tokens(fold_dir, train_utts, used, inputs, hparams)
    model = build_model(spec)
    if model.input_norm:
        model.set_input_statistics(*inputs.vectors.statistics(train_utts))
    counter = hparams["epoch_counter"]()
    train_logger = hparams["train_logger"](save_file=str(fold_dir / "train_log.txt"))
    checkpointer = sb.utils.checkpoints.Checkpointer(
        fold_dir / "save", recoverables={"model": model, "counter": counter}
    )
    brain = EpcBrain(
        modules={"model": model}, opt_class=hparams["opt_class"],
        hparams=dict(hparams, epoch_counter=counter, train_logger=train_logger),
        run_opts=run_opts, checkpointer=checkpointer,
    )
    index_of = {label: i for i, label in enumerate(labels)}
    data = {name: EpcDataset(part, index_of, inputs.vectors, tokens) for name, part in sets.items()}
    loader = {"batch_size": int(hparams["batch_size"]), "num_workers": int(hparams["num_workers"]),
              "collate_fn": collate_samples}
    logger.info("fold %s: train/valid/test samples = %s", fold.name, fold.sizes())
    brain.fit(counter, data["train"], data["valid"],
              train_loader_kwargs=dict(loader, shuffle=True), valid_loader_kwargs=loader)
    brain.evaluate(data["test"], test_loader_kwargs=loader)
    best = checkpointer.find_checkpoint(
        importance_key=brain.checkpoint_rank, ckpt_predicate=lambda c: brain.select_metric in c.meta
    )
    test = brain.test_result
    result = {
        "fold": fold.name,
        "index": index,
        "sizes": list(fold.sizes()),
        "ids_sha256": digest,
        **{key: test.report[key] for key in METRIC_KEYS},
        "num_samples": test.report["num_samples"],
        "best_epoch": None if best is None else best.meta.get("epoch"),
        "valid": None if best is None else {k: best.meta.get(k) for k in ("UA", "WA", "WF1")},
        "vocab_size": spec.get("vocab_size"),
        "report": test.report,
    }
    if if_main_process():
        _write_fold_outputs(fold_dir, fold, test, model, labels, by_id, hparams)
        write_json(done, result)
    return result


def _write_fold_outputs(fold_dir, fold, test, model, labels, by_id, hparams) -> None:
    split = {"train": fold.train_ids, "valid": fold.valid_ids, "test": fold.test_ids}
    write_json(fold_dir / "split.json", {k: list(v) for k, v in split.items()})
    with open(fold_dir / "predictions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["ID", "dialog", "speaker", "target_turn", "history_turns", "target",
                         "prediction"] + [f"p_{label}" for label in labels])
        for uid, target, pred, probs in zip(test.ids, test.targets, test.preds, test.probs):
            sample = by_id[uid]
            writer.writerow([uid, sample.dialog, sample.speaker, sample.target_turn,
                             len(sample.history), labels[target], labels[pred]]
                            + [f"{p:.6f}" for p in probs])
    torch.save(model.state_dict(), fold_dir / MODEL_FILE)
    if hparams["plots"] and plots.plots_available():
        plots.plot_confusion(test.report["confusion_matrix"], labels,
                             fold_dir / "confusion_matrix.png", f"EPC {fold.name}")


def _input_title(settings: Mapping[str, Any]) -> str:
    inputs = settings.get("inputs", {})
    parts = []
    if "speech" in inputs:
        parts.append(f"{inputs['speech'].get('name', '?')} ({inputs['speech'].get('feature', '?')})")
    if "text" in inputs:
        text = inputs["text"]
        parts.append("BERT" if text.get("encoder") == "bert" else
                     f"SentencePiece {text.get('vocab_size')} + GRU text encoder")
    return " + ".join(parts) or "?"


def epc_results_table(summary: Mapping[str, Any]) -> str:
    """The markdown table of an EPC run (UAR and macro-F1 first, in %).

    Arguments
    ---------
    summary : mapping
        Output of :func:`~emotion2vec.downstream.crossval.aggregate`.

    Returns
    -------
    str

    Example
    -------
    >>> summary = {"settings": {"modality": "speech", "protocol": "loso_speaker",
    ...     "fold_options": {}, "num_folds": 2, "samples": {"history_turns": 6},
    ...     "inputs": {"speech": {"name": "base", "feature": "frm_mean"}}},
    ...     "num_folds": 2, "mean": dict(wa=0.5, ua=0.6, wf1=0.5, macro_f1=0.55),
    ...     "std": dict(wa=0.0, ua=0.1, wf1=0.0, macro_f1=0.05),
    ...     "folds": [dict(fold="speaker_A", sizes=[5, 2, 2], best_epoch=3, valid={"UA": 0.5},
    ...                    wa=0.5, ua=0.6, wf1=0.5, macro_f1=0.55)]}
    >>> print(epc_results_table(summary).splitlines()[6])
    | speech | base (frm_mean) | leave-one-speaker-out 2-fold | 60.00 ± 10.00 | 55.00 ± 5.00 | 50.00 ± 0.00 |
    """
    settings = summary["settings"]
    protocol = describe_protocol(settings.get("protocol", "?"), settings.get("fold_options", {}),
                                 settings.get("num_folds", summary["num_folds"]))
    mean, std = summary["mean"], summary["std"]
    cell = lambda k: f"{100 * mean[k]:.2f} ± {100 * std[k]:.2f}"  # noqa: E731
    history = settings.get("samples", {}).get("history_turns", "?")
    lines = [
        f"## IEMOCAP emotion prediction in conversation: {settings.get('modality', '?')}, {protocol}",
        "",
        f"Mean ± std over {summary['num_folds']} fold(s); {history} history turns, "
        "hierarchical GRU (utterances in a turn, then turns).",
        "",
        "| Modality | Input | Protocol | UAR (%) | Macro-F1 (%) | WA (%) |",
        "|---|---|---|---|---|---|",
        f"| {settings.get('modality', '?')} | {_input_title(settings)} | {protocol} | "
        f"{cell('ua')} | {cell('macro_f1')} | {cell('wa')} |",
        "",
        "| Fold | Train / valid / test samples | Best epoch | valid UAR (%) | UAR (%) | Macro-F1 (%) |",
        "|---|---|---|---|---|---|",
    ]
    for fold in summary["folds"]:
        valid = (fold.get("valid") or {}).get("UA")
        lines.append(
            f"| {fold['fold']} | {' / '.join(str(s) for s in fold.get('sizes') or [])} | "
            f"{fold.get('best_epoch')} | {'' if valid is None else f'{100 * valid:.2f}'} | "
            f"{100 * fold['ua']:.2f} | {100 * fold['macro_f1']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def write_epc_results(out: Path, summary: Dict[str, Any], labels: Sequence[str], hparams) -> None:
    """Writes ``results.json``, ``results.md`` and the summed confusion matrix.

    Arguments
    ---------
    out : Path
        Output folder.
    summary : dict
        Output of :func:`~emotion2vec.downstream.crossval.aggregate`.
    labels : sequence of str
        Class names.
    hparams : mapping
        Recipe hparams (``plots``).
    """
    summary = dict(summary, labels=list(labels))
    write_json(out / RESULTS_FILE, summary)
    (out / TABLE_FILE).write_text(epc_results_table(summary), encoding="utf-8")
    if hparams["plots"] and plots.plots_available():
        plots.plot_confusion(summary["confusion_matrix"], labels, out / "confusion_matrix.png",
                             "IEMOCAP EPC: all folds")
    mean = summary["mean"]
    logger.info("%d fold(s): UAR %.2f  macro-F1 %.2f -> %s", summary["num_folds"],
                100 * mean["ua"], 100 * mean["macro_f1"], out / RESULTS_FILE)
