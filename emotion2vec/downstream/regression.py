"""The regression Brain: a head that predicts one score, and its data.

MERBench's practice for CMU-MOSI / CMU-MOSEI (datasets.md 2.7): the head
regresses the continuous sentiment score on every training segment (MSE;
L1 as an option) and is evaluated by MAE, Pearson's r and, after dropping
the segments whose target is the neutral value and binarising targets and
predictions at it, ACC-2 and WF1
(:func:`emotion2vec.downstream.metrics.regression_report`).

:class:`RegressionBrain` is :class:`~emotion2vec.downstream.brain.EmotionBrain`
with another objective and other metrics; everything else (optimiser,
per-epoch scheduler, one kept checkpoint, the earliest best epoch, test on
it) is the same. The head is a classification head with one output
(``labels: [<target column>]``).

hparams read, besides EmotionBrain's: ``regression`` (a mapping with
``loss``: ``mse`` | ``l1`` and ``binarize_at``: the threshold, 0.0) and
``select_metric`` (``WF1``, ``ACC2``, ``MAE`` or ``PEARSON``).

Authors
 * emotion2vec-sb contributors
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np
import speechbrain as sb
import torch
from speechbrain.dataio.dataset import DynamicItemDataset

from emotion2vec.downstream.brain import EmotionBrain, relative_to_steps
from emotion2vec.downstream.metrics import regression_report

REGRESSION_METRICS = ("WF1", "ACC2", "MAE", "PEARSON")
LOSSES = {"mse": torch.nn.functional.mse_loss, "l1": torch.nn.functional.l1_loss}


def regression_dataset(store, ids: Sequence[str], target_of: Mapping[str, float]) -> DynamicItemDataset:
    """A dataset of cached features with ``id``, ``feats`` and ``target``.

    Arguments
    ---------
    store : FeatureStore
        Opened feature cache (``store.get(uid) -> [steps, dim]``).
    ids : sequence of str
        Utterances of this split.
    target_of : mapping
        ID -> score (float).

    Returns
    -------
    DynamicItemDataset
        Batches give ``feats`` = (``[B, steps, dim]``, relative lengths) and
        ``target`` = ``[B, 1]`` float32.

    Example
    -------
    >>> class Store:
    ...     def get(self, uid):
    ...         return np.ones((2, 3), dtype=np.float32)
    >>> item = regression_dataset(Store(), ["a"], {"a": -1.5})[0]
    >>> item["id"], item["feats"].shape, item["target"].tolist()
    ('a', torch.Size([2, 3]), [-1.5])
    """
    data = {uid: {"score": float(target_of[uid])} for uid in ids}
    dataset = DynamicItemDataset(data)

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("feats")
    def feats_pipeline(uid):
        return torch.from_numpy(store.get(uid))

    @sb.utils.data_pipeline.takes("score")
    @sb.utils.data_pipeline.provides("target")
    def target_pipeline(score):
        return torch.tensor([score], dtype=torch.float32)

    dataset.add_dynamic_item(feats_pipeline)
    dataset.add_dynamic_item(target_pipeline)
    dataset.set_output_keys(["id", "feats", "target"])
    return dataset


@dataclass
class RegressionResult:
    """Everything the test stage of a regression produced.

    Arguments
    ---------
    ids : list of str
        Utterance IDs, in evaluation order.
    targets : numpy.ndarray
        ``[N]`` true scores.
    preds : numpy.ndarray
        ``[N]`` predicted scores.
    embeddings : numpy.ndarray
        ``[N, hidden]`` head representations (input of its output layer).
    report : dict
        :func:`~emotion2vec.downstream.metrics.regression_report`.
    """

    ids: List[str]
    targets: np.ndarray
    preds: np.ndarray
    embeddings: np.ndarray
    report: Dict[str, Any]


class RegressionBrain(EmotionBrain):
    """Trains and evaluates a one-output head on a score (MSE or L1).

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from speechbrain.utils.train_logger import FileTrainLogger
    >>> from emotion2vec.model.heads import LinearHead
    >>> class Store:
    ...     def get(self, uid):
    ...         return np.full((2, 4), float(uid[1:]) - 3.5, dtype=np.float32)
    >>> ids = [f"u{i}" for i in range(8)]
    >>> data = regression_dataset(Store(), ids, {uid: float(uid[1:]) - 3.5 for uid in ids})
    >>> tmp = Path(tempfile.mkdtemp())
    >>> counter = sb.utils.epoch_loop.EpochCounter(3)
    >>> hparams = dict(epoch_counter=counter, train_logger=FileTrainLogger(tmp / "log.txt"),
    ...                select_metric="MAE", regression={"loss": "mse", "binarize_at": 0.0})
    >>> head = LinearHead(4, 1)
    >>> ckpt = sb.utils.checkpoints.Checkpointer(tmp, {"head": head, "counter": counter})
    >>> brain = RegressionBrain({"head": head}, lambda p: torch.optim.Adam(p, 0.05),
    ...                         hparams, run_opts={"device": "cpu"}, checkpointer=ckpt)
    >>> brain.fit(counter, data, data, progressbar=False, train_loader_kwargs={"batch_size": 4})
    >>> _ = brain.evaluate(data, progressbar=False, test_loader_kwargs={"batch_size": 4})
    >>> result = brain.test_result
    >>> result.preds.shape, result.report["num_samples"], result.report["num_binary"]
    ((8,), 8, 8)
    """

    METRICS = REGRESSION_METRICS
    LOWER_IS_BETTER = frozenset({"MAE"})
    PERCENT_METRICS = ("WF1", "ACC2")

    def _options(self) -> Dict[str, Any]:
        options = dict(getattr(self.hparams, "regression", None) or {})
        loss = str(options.get("loss", "mse")).lower()
        if loss not in LOSSES:
            raise ValueError(f"regression loss must be one of {sorted(LOSSES)}, got {loss!r}")
        return {"loss": loss, "binarize_at": float(options.get("binarize_at", 0.0) or 0.0)}

    def compute_forward(self, batch, stage):
        """Head outputs ``[batch]`` (the single output) for a PaddedBatch of features."""
        batch = batch.to(self.device)
        x, rel_lens = batch.feats
        lengths = relative_to_steps(rel_lens, x.shape[1])
        if stage == sb.Stage.TEST:
            out, embedding = self.modules.head(x, lengths, return_embedding=True)
            self._embeddings.append(embedding.detach().float().cpu())
        else:
            out = self.modules.head(x, lengths)
        if out.shape[-1] != 1:
            raise ValueError(f"a regression head has one output, this one has {out.shape[-1]}")
        return out[:, 0]

    def compute_objectives(self, predictions, batch, stage):
        """MSE (or L1) against the score; also records targets and predictions."""
        targets = batch.target.data.view(-1).to(predictions.device).float()
        preds = predictions.float()
        loss = LOSSES[self._options()["loss"]](preds, targets)
        self._ids.extend(batch.id)
        self._targets.append(targets.detach().cpu())
        self._probs.append(preds.detach().cpu())
        return loss

    def stage_report(self, loss) -> Dict[str, float]:
        targets = torch.cat(self._targets).numpy()
        preds = torch.cat(self._probs).numpy()
        report = regression_report(targets, preds, threshold=self._options()["binarize_at"])
        self._report, self._stage_targets, self._stage_probs = report, targets, preds
        return {
            "loss": float(loss), "WF1": report["wf1"], "ACC2": report["acc2"],
            "MAE": report["mae"], "PEARSON": report["pearson"],
        }

    def _test_result(self, embeddings: np.ndarray) -> RegressionResult:
        return RegressionResult(
            list(self._ids), self._stage_targets, self._stage_probs, embeddings, self._report
        )
