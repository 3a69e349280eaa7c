"""The classification Brain shared by every corpus recipe, and its data.

:class:`EmotionBrain` trains a downstream head (``modules["head"]``, see
:mod:`emotion2vec.model.heads`) on cached upstream features with
cross-entropy. It follows the official IEMOCAP downstream recipe:

* the optimiser comes from ``opt_class`` (RMSprop in the recipes) and an
  optional ``lr_scheduler`` factory (``torch.optim.lr_scheduler.CyclicLR``)
  is stepped once per EPOCH, after training; both are checkpointed;
* every epoch is validated; WA, UA and WF1 (fractions) go to the
  checkpoint meta and the train log, and the checkpoint with the best
  ``select_metric`` (default ``WA``) is kept, the EARLIEST epoch winning a
  tie (the official "strictly greater" rule); an epoch that does not beat
  it is not saved (an interrupted fold resumes from the best epoch);
* ``evaluate`` reloads that checkpoint; the test stage keeps every
  prediction, probability and head embedding in :attr:`test_result`.

hparams read: ``train_logger`` (a FileTrainLogger instance),
``epoch_counter`` and optionally ``lr_scheduler``, ``label_smoothing``
(0.0) and ``select_metric`` (``WA``). A ``class_weights`` tensor set on the
Brain weights the training loss per class.

:class:`emotion2vec.finetune.brain.FineTuneBrain` extends it to waveforms
(a backbone trained with the head).

Authors
 * emotion2vec-sb contributors
"""

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np
import speechbrain as sb
import torch
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.dataio.encoder import CategoricalEncoder

from emotion2vec.downstream.metrics import classification_report

METRICS = ("WA", "UA", "WF1")


def relative_to_steps(rel_lens: torch.Tensor, steps: int) -> torch.Tensor:
    """SpeechBrain relative lengths -> valid step counts (int64).

    Arguments
    ---------
    rel_lens : torch.Tensor
        ``[batch]`` relative lengths in (0, 1].
    steps : int
        Padded length.

    Returns
    -------
    torch.Tensor

    Example
    -------
    >>> relative_to_steps(torch.tensor([1.0, 2 / 3, 1 / 3]), 3).tolist()
    [3, 2, 1]
    """
    return torch.round(rel_lens.double() * steps).long().clamp(1, steps)


def label_encoder(labels: Sequence[str]) -> CategoricalEncoder:
    """A CategoricalEncoder with a FIXED label order.

    Arguments
    ---------
    labels : sequence of str
        Labels in index order.

    Returns
    -------
    CategoricalEncoder

    Example
    -------
    >>> enc = label_encoder(["ang", "hap", "neu", "sad"])
    >>> enc.encode_label("neu"), enc.decode_ndim(3)
    (2, 'sad')
    """
    if len(set(labels)) != len(labels) or not labels:
        raise ValueError(f"labels must be unique and non-empty, got {list(labels)}")
    encoder = CategoricalEncoder()
    encoder.update_from_iterable([str(label) for label in labels])
    encoder.expect_len(len(labels))
    return encoder


def feature_dataset(
    store, ids: Sequence[str], label_of: Mapping[str, str], encoder: CategoricalEncoder
) -> DynamicItemDataset:
    """A dataset of cached features with ``id``, ``feats`` and ``label_id``.

    Arguments
    ---------
    store : FeatureStore
        Opened feature cache (``store.get(uid) -> [steps, dim]``).
    ids : sequence of str
        Utterances of this split.
    label_of : mapping
        ID -> label string.
    encoder : CategoricalEncoder
        Fixed label order (see :func:`label_encoder`).

    Returns
    -------
    DynamicItemDataset
        Batches (``PaddedBatch``) give ``feats`` = (``[B, steps, dim]``,
        relative lengths) and ``label_id`` = ``[B, 1]``.

    Example
    -------
    >>> class Store:
    ...     def get(self, uid):
    ...         return np.ones((int(uid[1]), 2), dtype=np.float32)
    >>> ds = feature_dataset(Store(), ["u3", "u1"], {"u3": "a", "u1": "b"},
    ...                      label_encoder(["a", "b"]))
    >>> item = ds[0]
    >>> item["id"], item["feats"].shape, item["label_id"].tolist()
    ('u3', torch.Size([3, 2]), [0])
    """
    unknown = sorted({label_of[uid] for uid in ids} - set(encoder.lab2ind))
    if unknown:
        raise ValueError(
            f"labels {unknown} are not in the label list {list(encoder.lab2ind)}; "
            "add them to `labels` in the hparams or drop those rows"
        )
    data = {uid: {"label": label_of[uid]} for uid in ids}
    dataset = DynamicItemDataset(data)

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("feats")
    def feats_pipeline(uid):
        return torch.from_numpy(store.get(uid))

    @sb.utils.data_pipeline.takes("label")
    @sb.utils.data_pipeline.provides("label_id")
    def label_pipeline(label):
        return torch.LongTensor([encoder.encode_label(label)])

    dataset.add_dynamic_item(feats_pipeline)
    dataset.add_dynamic_item(label_pipeline)
    dataset.set_output_keys(["id", "feats", "label_id"])
    return dataset


@dataclass
class EvalResult:
    """Everything the test stage produced.

    Arguments
    ---------
    ids : list of str
        Utterance IDs, in evaluation order.
    targets : numpy.ndarray
        ``[N]`` true class indices.
    probs : numpy.ndarray
        ``[N, classes]`` softmax probabilities.
    embeddings : numpy.ndarray
        ``[N, hidden]`` head representations (input of its output layer).
    report : dict
        :func:`~emotion2vec.downstream.metrics.classification_report`.
    """

    ids: List[str]
    targets: np.ndarray
    probs: np.ndarray
    embeddings: np.ndarray
    report: Dict[str, Any]

    @property
    def preds(self) -> np.ndarray:
        """``[N]`` predicted class indices."""
        return self.probs.argmax(axis=1)


class EmotionBrain(sb.Brain):
    """Trains and evaluates a classification head on cached features.

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from speechbrain.utils.train_logger import FileTrainLogger
    >>> from emotion2vec.model.heads import SuperbHead
    >>> class Store:
    ...     def get(self, uid):
    ...         return np.full((2, 4), float(uid[-1] == "1"), dtype=np.float32)
    >>> ids = [f"u{i}{i % 2}" for i in range(8)]
    >>> labels = {uid: "ab"[int(uid[-1])] for uid in ids}
    >>> data = feature_dataset(Store(), ids, labels, label_encoder(["a", "b"]))
    >>> tmp = Path(tempfile.mkdtemp())
    >>> counter = sb.utils.epoch_loop.EpochCounter(3)
    >>> hparams = dict(epoch_counter=counter, train_logger=FileTrainLogger(tmp / "log.txt"))
    >>> head = SuperbHead(4, 2, hidden=8)
    >>> ckpt = sb.utils.checkpoints.Checkpointer(tmp, {"head": head, "counter": counter})
    >>> brain = EmotionBrain({"head": head}, lambda p: torch.optim.Adam(p, 0.05),
    ...                      hparams, run_opts={"device": "cpu"}, checkpointer=ckpt)
    >>> brain.fit(counter, data, data, progressbar=False, train_loader_kwargs={"batch_size": 4})
    >>> _ = brain.evaluate(data, progressbar=False, test_loader_kwargs={"batch_size": 4})
    >>> result = brain.test_result
    >>> result.probs.shape, result.embeddings.shape, result.report["num_samples"]
    ((8, 2), (8, 8), 8)
    """

    METRICS = METRICS
    """Validation metrics (checkpoint meta keys) ``select_metric`` may name."""
    LOWER_IS_BETTER: frozenset = frozenset()
    """Metrics of :attr:`METRICS` where smaller is better (a regression's MAE)."""
    PERCENT_METRICS = METRICS
    """Metrics shown in the train log in percent."""

    def compute_forward(self, batch, stage):
        """Head logits ``[batch, classes]`` for a PaddedBatch of features."""
        batch = batch.to(self.device)
        x, rel_lens = batch.feats
        lengths = relative_to_steps(rel_lens, x.shape[1])
        if stage == sb.Stage.TEST:
            logits, embedding = self.modules.head(x, lengths, return_embedding=True)
            self.keep_embedding(embedding)
            return logits
        return self.modules.head(x, lengths)

    def keep_embedding(self, embedding: torch.Tensor) -> None:
        """Keeps a test batch's head representations for :attr:`test_result`.

        Arguments
        ---------
        embedding : torch.Tensor
            ``[batch, dim]`` (what the head's output layer receives).
        """
        self._embeddings.append(embedding.detach().float().cpu())

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy (class-weighted in training when :attr:`class_weights`
        is set); also records targets and probabilities."""
        targets = batch.label_id.data.view(-1).to(predictions.device)
        smoothing = float(getattr(self.hparams, "label_smoothing", 0.0) or 0.0)
        logits = predictions.float()
        weights = getattr(self, "class_weights", None) if stage == sb.Stage.TRAIN else None
        if weights is not None:
            weights = weights.to(logits.device)
        loss = torch.nn.functional.cross_entropy(
            logits, targets, weight=weights, label_smoothing=smoothing
        )
        self._ids.extend(batch.id)
        self._targets.append(targets.detach().cpu())
        self._probs.append(torch.softmax(logits.detach(), dim=-1).cpu())
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Resets the per-stage collections (and notes the lr)."""
        self._ids, self._targets, self._probs, self._embeddings = [], [], [], []
        if stage == sb.Stage.TRAIN and hasattr(self, "optimizer"):
            self._epoch_lr = self.optimizer.param_groups[0]["lr"]

    def init_optimizers(self):
        """The optimiser, plus the optional per-epoch lr scheduler (checkpointed)."""
        super().init_optimizers()
        factory = getattr(self.hparams, "lr_scheduler", None)
        self.lr_scheduler = None
        if factory is not None and self.opt_class is not None:
            self.lr_scheduler = factory(self.optimizer)
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable("lr_scheduler", self.lr_scheduler)

    @property
    def select_metric(self) -> str:
        """Validation metric that picks the checkpoint (one of :attr:`METRICS`)."""
        key = str(getattr(self.hparams, "select_metric", "WA")).upper()
        if key not in self.METRICS:
            raise ValueError(f"select_metric must be one of {self.METRICS}, got {key!r}")
        return key

    def checkpoint_rank(self, ckpt):
        """Sort key of checkpoints: best metric first, among equals the earliest epoch.

        Arguments
        ---------
        ckpt : speechbrain.utils.checkpoints.Checkpoint
            A checkpoint (its ``meta`` holds the validation metrics).

        Returns
        -------
        tuple
        """
        key = self.select_metric
        value = ckpt.meta.get(key)
        if value is None:
            value = float("-inf")
        elif key in self.LOWER_IS_BETTER:
            value = -value
        return (value, -ckpt.meta.get("epoch", 0))

    def _improves_on_best(self, meta: Mapping[str, Any]) -> bool:
        """Whether an epoch's validation beats the kept checkpoint.

        Only the best checkpoint is ever kept, so an epoch that does not
        beat it is not saved at all (saving it and deleting it again cost
        more than the epoch itself for a small head). The best rank is read
        from disk once (a resumed run) and then tracked.
        """
        if self.checkpointer is None:
            return False
        rank = self.checkpoint_rank(SimpleNamespace(meta=meta))
        if getattr(self, "_best_rank", None) is None:
            key = self.select_metric
            kept = self.checkpointer.find_checkpoint(
                importance_key=self.checkpoint_rank, ckpt_predicate=lambda c: key in c.meta
            )
            self._best_rank = None if kept is None else self.checkpoint_rank(kept)
        if self._best_rank is not None and rank <= self._best_rank:
            return False
        self._best_rank = rank
        return True

    def stage_report(self, loss) -> Dict[str, float]:
        """WA, UA, WF1 (fractions) and the loss of the stage's predictions.

        Arguments
        ---------
        loss : float
            Average loss of the stage.

        Returns
        -------
        dict
        """
        targets = torch.cat(self._targets).numpy()
        probs = torch.cat(self._probs).numpy()
        report = classification_report(
            targets, probs.argmax(axis=1), num_classes=probs.shape[1]
        )
        self._report, self._stage_targets, self._stage_probs = report, targets, probs
        return {"loss": float(loss), "WA": report["wa"], "UA": report["ua"], "WF1": report["wf1"]}

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs WA/UA/WF1, steps the scheduler, keeps the best checkpoint."""
        stats = self.stage_report(stage_loss)
        shown = {
            k: (round(v * 100, 2) if k in self.PERCENT_METRICS else round(v, 4))
            for k, v in stats.items()
        }
        if stage == sb.Stage.TRAIN:
            self.train_stats = shown
            if self.lr_scheduler is not None:
                self.lr_scheduler.step()
        elif stage == sb.Stage.VALID:
            lr = getattr(self, "_epoch_lr", None)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats=getattr(self, "train_stats", None),
                valid_stats=shown,
            )
            meta = dict(stats, epoch=epoch)
            if self._improves_on_best(meta):
                self.checkpointer.save_and_keep_only(
                    meta=meta, importance_keys=[self.checkpoint_rank], num_to_keep=1
                )
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch loaded": self.hparams.epoch_counter.current},
                test_stats=shown,
            )
            embeddings = (
                torch.cat(self._embeddings).numpy() if self._embeddings else np.zeros((0, 0))
            )
            self.test_result = self._test_result(embeddings)

    def _test_result(self, embeddings: np.ndarray) -> EvalResult:
        """What the test stage keeps (:attr:`test_result`)."""
        return EvalResult(
            list(self._ids), self._stage_targets, self._stage_probs, embeddings, self._report
        )

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the checkpoint with the best validation metric (earliest on ties)."""
        if self.checkpointer is not None:
            key = self.select_metric
            self.checkpointer.recover_if_possible(
                importance_key=self.checkpoint_rank, ckpt_predicate=lambda c: key in c.meta
            )
