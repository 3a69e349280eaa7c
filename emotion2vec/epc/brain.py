"""The EPC Brain: the classification Brain of the downstream recipes on
:class:`~emotion2vec.epc.data.EpcBatch` batches.

:class:`EpcBrain` only changes the forward pass
(``modules["model"]``, an :class:`~emotion2vec.epc.model.EpcModel`);
cross-entropy, per-epoch validation, keeping the checkpoint with the best
``select_metric`` (EPC: ``UA`` = UAR, earliest epoch on ties), the test
stage's predictions and embeddings are
:class:`~emotion2vec.downstream.brain.EmotionBrain`'s.

Authors
 * emotion2vec-sb contributors
"""

import speechbrain as sb

from emotion2vec.downstream.brain import EmotionBrain


class EpcBrain(EmotionBrain):
    """Trains and evaluates an EPC model (see the module docstring).

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np, torch
    >>> from speechbrain.utils.train_logger import FileTrainLogger
    >>> from emotion2vec.epc.model import EpcModel
    >>> from emotion2vec.epc.data import collate_samples
    >>> items = [dict(id=f"s{i}", label=i % 2, own=[False], utt_counts=[1],
    ...               vectors=[[np.full(3, float(i % 2))]]) for i in range(8)]
    >>> tmp = Path(tempfile.mkdtemp())
    >>> counter = sb.utils.epoch_loop.EpochCounter(2)
    >>> model = EpcModel(2, vector_dim=3, input_norm=False, utt_hidden=4, turn_hidden=4)
    >>> hparams = dict(epoch_counter=counter, train_logger=FileTrainLogger(tmp / "log.txt"),
    ...                select_metric="UA")
    >>> ckpt = sb.utils.checkpoints.Checkpointer(tmp, {"model": model, "counter": counter})
    >>> brain = EpcBrain({"model": model}, lambda p: torch.optim.Adam(p, 0.05), hparams,
    ...                  run_opts={"device": "cpu"}, checkpointer=ckpt)
    >>> loader = {"batch_size": 4, "collate_fn": collate_samples}
    >>> brain.fit(counter, items, items, progressbar=False, train_loader_kwargs=loader,
    ...           valid_loader_kwargs=loader)
    >>> _ = brain.evaluate(items, progressbar=False, test_loader_kwargs=loader)
    >>> brain.test_result.probs.shape, brain.test_result.embeddings.shape
    ((8, 2), (8, 4))
    """

    def compute_forward(self, batch, stage):
        """Logits ``[batch, classes]`` of an :class:`EpcBatch` (test: keeps embeddings)."""
        batch = batch.to(self.device)
        logits, embedding = self.modules.model(**batch.model_inputs())
        if stage == sb.Stage.TEST:
            self._embeddings.append(embedding.detach().float().cpu())
        return logits
