"""The fine-tuning Brain: an emotion2vec backbone trained with its head.

:class:`FineTuneBrain` extends the downstream
:class:`~emotion2vec.downstream.brain.EmotionBrain` (same loss, metrics,
checkpoint choice and test outputs) from cached features to waveforms:
``modules["model"]`` is a :class:`~emotion2vec.finetune.model.FineTuneClassifier`.

* Optimiser: ``opt_class`` (AdamW) over the groups of
  :func:`emotion2vec.finetune.freezing.param_groups` (head and backbone
  learning rates, optional layer-wise decay); the ``lr_scheduler`` factory
  (warm-up + cosine, :class:`emotion2vec.pretrain.schedulers.WarmupCosineScheduler`)
  receives the run's number of optimizer steps and is stepped after every
  update. Both are checkpointed.
* Gradients of every group are clipped together (``max_grad_norm``;
  SpeechBrain's default clips only the first group).
* bf16 autocast with SpeechBrain's ``--precision=bf16`` (the recipes pick
  it where the GPU supports it); the loss is computed in float32.
* Exact resumption: the global RNG (dropout) is reseeded at the first batch
  of every update from ``(seed, update, rank)``, the batches and crops
  follow ``(seed, epoch)`` (:mod:`emotion2vec.finetune.data`) and
  intra-epoch checkpoints (``ckpt_interval_minutes`` / ``_steps``) are only
  written between updates, so an interrupted run resumed from its last
  checkpoint ends where an uninterrupted one does.
* Checkpoints after every validation: the most recent one (to resume) and
  the best on ``select_metric`` (earliest epoch on ties), which
  ``evaluate`` reloads.

hparams read: ``lr_backbone``, ``lr_head``, ``layer_decay``,
``weight_decay``, ``lr_scheduler``, ``number_of_epochs``, ``seed``,
``epoch_counter``, ``train_logger`` and those of ``EmotionBrain``.

Authors
 * emotion2vec-sb contributors
"""

import logging
import math

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process

from emotion2vec.distributed import fix_batch_sampler_wrapper
from emotion2vec.downstream.brain import METRICS, EmotionBrain
from emotion2vec.finetune.freezing import param_groups
from emotion2vec.pretrain.data import mix_seed

logger = logging.getLogger(__name__)


def _rank() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


def group_lr(optimizer, name: str) -> float:
    """Current learning rate of the first group whose name starts with ``name``.

    Arguments
    ---------
    optimizer : torch.optim.Optimizer
        Groups from :func:`emotion2vec.finetune.freezing.param_groups`.
    name : str
        ``head`` or ``layer<k>``.

    Returns
    -------
    float or None
    """
    for group in optimizer.param_groups:
        if str(group.get("name", "")).startswith(name):
            return group["lr"]
    return None


class FineTuneBrain(EmotionBrain):
    """Fine-tunes a backbone and its head on waveforms (see the module docstring).

    The recipe sets :attr:`train_sampler` (the training batch sampler: its
    length sizes the lr schedule) before ``fit``.
    """

    @property
    def classifier(self):
        """The (unwrapped) FineTuneClassifier."""
        model = self.modules.model
        return getattr(model, "module", model)

    def compute_forward(self, batch, stage):
        """Logits ``[batch, classes]`` of a PaddedBatch of waveforms."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        if stage == sb.Stage.TEST:
            logits, embedding = self.modules.model(wavs, wav_lens, return_embedding=True)
            self.keep_embedding(embedding)
            return logits
        return self.modules.model(wavs, wav_lens)

    def _train_loader_specifics(self, dataset, loader_kwargs):
        """SpeechBrain's DDP sampler set-up, with the batch-sampler wrapper
        fixed (:func:`emotion2vec.distributed.fix_batch_sampler_wrapper`)."""
        return fix_batch_sampler_wrapper(super()._train_loader_specifics(dataset, loader_kwargs))

    def init_optimizers(self):
        """AdamW over the head / backbone groups and the per-update schedule."""
        if self.opt_class is None:
            return
        groups = param_groups(
            self.classifier, self.hparams.lr_backbone, self.hparams.lr_head,
            self.hparams.layer_decay, self.hparams.weight_decay,
        )
        self.optimizer = self.opt_class(groups)
        self.optimizers_dict = {"optimizer": self.optimizer}
        batches = len(self.train_sampler) if self.train_sampler is not None else 1
        per_epoch = max(1, batches // self.grad_accumulation_factor)
        self.total_updates = per_epoch * int(self.hparams.number_of_epochs)
        self.lr_scheduler = self.hparams.lr_scheduler(self.optimizer, total_steps=self.total_updates)
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("optimizer", self.optimizer)
            self.checkpointer.add_recoverable("lr_scheduler", self.lr_scheduler)
        if if_main_process():
            for group in groups:
                logger.info("optimizer group %s: %d tensors, lr %.3g, weight decay %g",
                            group["name"], len(group["params"]), group["lr"], group["weight_decay"])
            logger.info("%d optimizer updates (%d per epoch)", self.total_updates, per_epoch)

    def on_fit_batch_start(self, batch, should_step):
        """Reseeds the global RNG at the first batch of every update."""
        if (self.step - 1) % self.grad_accumulation_factor == 0:
            torch.manual_seed(mix_seed(self.hparams.seed, self.optimizer_step, _rank()))

    def optimizers_step(self):
        """Unscale, clip the gradients of every group together, step."""
        for opt in self.optimizers_dict.values():
            self.scaler.unscale_(opt)
        params = [p for group in self.optimizer.param_groups for p in group["params"]
                  if p.grad is not None]
        max_norm = self.max_grad_norm if self.max_grad_norm > 0 else math.inf
        self.grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        if not self.scaler.is_enabled() and self.skip_nonfinite_grads:
            self.check_gradients()
        for opt in self.optimizers_dict.values():
            self.scaler.step(opt)
        self.scaler.update()
        for opt in self.optimizers_dict.values():
            opt.zero_grad(set_to_none=True)
        self.optimizer_step += 1

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Steps the lr schedule after every update."""
        if should_step:
            self.lr_scheduler.step(self.optimizer_step)

    def _should_save_intra_epoch_ckpt(self, last_ckpt_time, steps_since_ckpt):
        """Intra-epoch checkpoints only between updates (a partial
        accumulation's gradients are not saved)."""
        decision = super()._should_save_intra_epoch_ckpt(last_ckpt_time, steps_since_ckpt)
        return decision and self.step % self.grad_accumulation_factor == 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs WA/UA/WF1; after validation keeps the latest and the best
        checkpoint; the test stage keeps every prediction (``test_result``)."""
        if stage == sb.Stage.TEST:
            return super().on_stage_end(stage, stage_loss, epoch)
        stats = self.stage_report(stage_loss)
        shown = {k: (round(v * 100, 2) if k in METRICS else round(v, 4)) for k, v in stats.items()}
        if stage == sb.Stage.TRAIN:
            self.train_stats = shown
            return None
        blocks = self.classifier.backbone.config.num_blocks
        lrs = {"lr_head": group_lr(self.optimizer, "head"),  # at the end of the epoch
               "lr_backbone": group_lr(self.optimizer, f"layer{blocks}")}
        lrs = {k: f"{v:.2e}" for k, v in lrs.items() if v is not None}
        self.hparams.train_logger.log_stats(
            stats_meta={"epoch": epoch, "updates": self.optimizer_step, **lrs},
            train_stats=getattr(self, "train_stats", None),
            valid_stats=shown,
        )
        self.checkpointer.save_and_keep_only(
            meta=dict(stats, epoch=epoch), importance_keys=[self.checkpoint_rank], num_to_keep=1,
        )
        return None
