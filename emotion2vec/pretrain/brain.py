"""The pre-training Brain: online distillation from an EMA teacher.

Per batch (``compute_forward``): the student encodes the kept frames of
``clone_batch`` masked copies of every utterance and decodes all frames
(:mod:`~emotion2vec.pretrain.student`); the teacher (EMA of the encoder,
eval mode) reads the student's projected features once per utterance and
gives the targets (:mod:`~emotion2vec.pretrain.teacher`). The objective is
``L = L_frm + alpha * L_utt`` with the released scaling
(:class:`~emotion2vec.pretrain.losses.Emotion2vecLoss`).

Per OPTIMIZER step (``on_fit_batch_end`` with ``should_step``): EMA update
and lr schedule driven by ``self.optimizer_step``, one log line (frame,
utterance and total loss, lr, EMA decay, target / prediction spread, grad
norm), a clear warning when the representations collapse (the release
aborts instead).

Release details reproduced (each one an hparam):

- ``normalize_loss_per_update``: fairseq divides the summed gradients of
  all accumulated batches and all GPUs by their total number of masked
  frames; with False each batch is divided by its own count (SpeechBrain's
  usual mean over accumulated batches).
- ``utterance_after_decoder_dropout``: the release applies the decoder input
  dropout IN PLACE on the student output, so its utterance loss reads the
  dropped-out token outputs.
- ``max_grad_norm`` (run option) clips the global norm of ALL parameters
  (SpeechBrain's default only clips the first parameter group); 0 only
  measures it (release: fairseq ``clip_norm`` 0).
- randomness: the global RNG is reseeded at the first batch of every update
  from ``(seed, update, rank)`` (fairseq reseeds per update), and
  intra-epoch checkpoints are only written between updates, so a resumed
  run continues exactly like an uninterrupted one.

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process

from emotion2vec.checkpoints.results import MODEL_CONFIG_FILE
from emotion2vec.distributed import fix_batch_sampler_wrapper
from emotion2vec.pretrain.data import mix_seed
from emotion2vec.pretrain.ema import unwrap_module
from emotion2vec.pretrain.initialization import initialize_model
from emotion2vec.pretrain.schedulers import param_groups_for_weight_decay
from emotion2vec.pretrain.targets import utterance_target
from emotion2vec.pretrain.teacher import sync_teacher, teacher_targets

logger = logging.getLogger(__name__)


#: hparams copied into the exported config's ``extra`` (official names).
PRETRAIN_FIELDS = {
    "clone_batch": "clone_batch",
    "average_top_k_layers": "average_top_k_layers",
    "instance_norm_target_layer": "instance_norm_target_layer",
    "cls_type": "cls_type",
    "utterance_target": "utterance_target",
    "cls_loss": "cls_weight",
    "d2v_loss": "d2v_weight",
    "loss_beta": "loss_beta",
    "ema_decay": "ema_decay",
    "ema_end_decay": "ema_end_decay",
    "ema_anneal_end_step": "ema_anneal_end_step",
    "mask_prob": "mask_prob",
    "mask_prob_adjust": "mask_prob_adjust",
    "mask_length": "mask_length",
}


def auto_precision() -> str:
    """``bf16`` where a CUDA device supports it, else ``fp32`` (the
    ``precision`` run option of the recipes).

    Returns
    -------
    str

    Example
    -------
    >>> auto_precision() in ("bf16", "fp32")
    True
    """
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def _world_size() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def _rank() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


class UpdateStats:
    """Accumulates the loss parts of the batches of one optimizer update.

    Example
    -------
    >>> stats = UpdateStats()
    >>> stats.add({"frame_loss": torch.tensor(2.0), "utterance_loss": torch.tensor(1.0),
    ...            "n_masked": torch.tensor(4), "pred_std": torch.tensor(0.5),
    ...            "target_std": torch.tensor(1.0)})
    >>> stats.summary()["loss"], stats.n_masked
    (3.0, 4)
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Starts a new update."""
        self.frame_sum = 0.0
        self.utt_sum = 0.0
        self.n_masked = 0
        self.pred_std = []
        self.target_std = []

    def add(self, losses: dict) -> None:
        """Adds one batch (the dict of ``Emotion2vecLoss``).

        Arguments
        ---------
        losses : dict
            Per-batch losses (normalised by the batch's masked frames).
        """
        n = int(losses["n_masked"])
        self.frame_sum += float(losses["frame_loss"]) * n
        self.utt_sum += float(losses["utterance_loss"]) * n
        self.n_masked += n
        self.pred_std.append(float(losses["pred_std"]))
        self.target_std.append(float(losses["target_std"]))

    def summary(self) -> dict:
        """Losses of the update, normalised by its masked frames.

        Returns
        -------
        dict
            ``frame_loss``, ``utterance_loss``, ``loss``, ``pred_var``,
            ``target_var`` (release names for the mean channel std).
        """
        n = max(self.n_masked, 1)
        frame, utt = self.frame_sum / n, self.utt_sum / n
        return {
            "frame_loss": frame,
            "utterance_loss": utt,
            "loss": frame + utt,
            "pred_var": sum(self.pred_std) / max(len(self.pred_std), 1),
            "target_var": sum(self.target_std) / max(len(self.target_std), 1),
        }


class Emotion2vecPretrainBrain(sb.Brain):
    """Brain of emotion2vec / data2vec 2.0 pre-training.

    Expected ``modules``: ``student`` (a
    :class:`~emotion2vec.pretrain.student.PretrainStudent`, DDP-wrapped) and
    ``teacher`` (:class:`~emotion2vec.pretrain.ema.EMATeacher`, not wrapped).
    Expected hparams: ``model`` (the Emotion2vecModel inside the student),
    ``teacher``, ``loss`` (Emotion2vecLoss), ``lr_scheduler`` (a
    ``!name:`` partial taking the optimizer), ``weight_decay``,
    ``clone_batch``, ``average_top_k_layers``, ``instance_norm_target_layer``,
    ``normalize_loss_per_update``, ``utterance_after_decoder_dropout``,
    ``seed``, ``init_from``, ``log_interval``, ``min_target_var``,
    ``min_pred_var``, ``collapse_check_after``, ``keep_checkpoints``,
    ``train_logger``, ``train_steps_logger``, ``use_tensorboard``,
    ``tensorboard_dir``, ``save_folder`` and the pre-training fields of
    :data:`PRETRAIN_FIELDS`.
    """

    # ------------------------------------------------------------------ setup
    def fit(self, epoch_counter, train_set, valid_set=None, *args, **kwargs):
        """``Brain.fit``, remembering whether a validation set exists (the
        checkpoint is then written after validation, else after training).

        Arguments
        ---------
        epoch_counter : iterable
            Epochs.
        train_set : Dataset or DataLoader
            Training data.
        valid_set : Dataset or DataLoader, optional
            Validation data.
        *args, **kwargs
            Passed to ``Brain.fit``.
        """
        self.has_valid = valid_set is not None
        self.tensorboard = None
        return super().fit(epoch_counter, train_set, valid_set, *args, **kwargs)

    def on_fit_start(self):
        """Initialises the student (``init_from``; skipped when a checkpoint
        will be recovered), syncs the teacher, writes the architecture for
        export, then compiles / wraps / recovers."""
        resuming = (
            self.checkpointer is not None
            and self.checkpointer.find_checkpoint() is not None
        )
        if not resuming:  # a resumed run restores student and teacher instead
            report = initialize_model(
                self.hparams.model, self.hparams.init_from,
                trust=bool(getattr(self.hparams, "trust_init_checkpoint", False)),
            )
            if report["loaded"]:
                sync_teacher(self.hparams.teacher, self.hparams.model)
        if if_main_process():
            folder = Path(self.hparams.save_folder)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / MODEL_CONFIG_FILE).write_text(
                json.dumps(self.model_config().to_dict(), indent=2) + "\n"
            )
            if self.hparams.use_tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError as error:
                    raise ImportError(
                        "use_tensorboard: True needs the tensorboard package "
                        f"(pip install tensorboard): {error}"
                    ) from None
                self.tensorboard = SummaryWriter(self.hparams.tensorboard_dir)
        super().on_fit_start()

    def model_config(self):
        """The student's config, with the pre-training settings in ``extra``
        (official names, for the FunASR export).

        Returns
        -------
        emotion2vec.model.Emotion2vecConfig
        """
        config = self.hparams.model.config
        extra = dict(config.extra)
        for official, key in PRETRAIN_FIELDS.items():
            if hasattr(self.hparams, key):
                extra[official] = getattr(self.hparams, key)
        config.extra = extra
        return config

    def _train_loader_specifics(self, dataset, loader_kwargs):
        """SpeechBrain's DDP sampler set-up, with the batch-sampler wrapper
        fixed (:func:`emotion2vec.distributed.fix_batch_sampler_wrapper`)."""
        return fix_batch_sampler_wrapper(super()._train_loader_specifics(dataset, loader_kwargs))

    def init_optimizers(self):
        """Adam with decay / no-decay groups and the warm-up + cosine
        schedule, both registered for checkpointing."""
        groups = param_groups_for_weight_decay(
            self.hparams.model.named_parameters(), self.hparams.weight_decay
        )
        self.optimizer = self.opt_class(groups)
        self.optimizers_dict = {"optimizer": self.optimizer}
        self.lr_scheduler = self.hparams.lr_scheduler(self.optimizer)
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("optimizer", self.optimizer)
            self.checkpointer.add_recoverable("lr_scheduler", self.lr_scheduler)

    # ---------------------------------------------------------------- forward
    def on_stage_start(self, stage, epoch=None):
        """Starts a fresh update at every stage (a partial accumulation left
        at the end of an epoch is discarded, its masked-frame count too).

        Arguments
        ---------
        stage : sb.Stage
            Training stage.
        epoch : int, optional
            Epoch number.
        """
        self.update_stats = UpdateStats()

    def on_fit_batch_start(self, batch, should_step):
        """Reseeds the global RNG at the first batch of every update.

        Arguments
        ---------
        batch : PretrainBatch
            The batch.
        should_step : bool
            Whether this batch ends the update.
        """
        if (self.step - 1) % self.grad_accumulation_factor == 0:
            torch.manual_seed(mix_seed(self.hparams.seed, self.optimizer_step, _rank()))

    def compute_forward(self, batch, stage):
        """Student on the masked copies, teacher targets on the utterances.

        Arguments
        ---------
        batch : PretrainBatch
            Cropped batch with masks.
        stage : sb.Stage
            Training stage.

        Returns
        -------
        student : StudentOutput
        targets : (torch.Tensor, torch.Tensor)
            float32 frame targets ``[batch, frames, dim]`` and the utterance
            target ``[batch, dim]`` (hparams ``utterance_target``, see
            :func:`emotion2vec.pretrain.targets.utterance_target`).
        """
        batch = batch.to(self.device)
        student = self.modules.student(batch.wavs, batch.mask)
        kind = getattr(self.hparams, "utterance_target", "normalized")
        targets, raw = teacher_targets(
            self.modules.teacher, student.local_features,
            self.hparams.average_top_k_layers,
            self.hparams.instance_norm_target_layer,
            return_raw=True,
        )
        u_target = utterance_target(targets, raw if kind != "normalized" else None, kind)
        return student, (targets, u_target)

    def compute_objectives(self, predictions, batch, stage):
        """``L_frm + alpha * L_utt`` (released scaling).

        Arguments
        ---------
        predictions : tuple
            From :meth:`compute_forward`.
        batch : PretrainBatch
            The batch.
        stage : sb.Stage
            Training stage.

        Returns
        -------
        torch.Tensor
            The loss to back-propagate: per masked frame, or the sum when
            ``normalize_loss_per_update`` (normalised in
            :meth:`optimizers_step`).
        """
        student, (targets, u_target) = predictions
        clone = self.hparams.clone_batch
        after = self.hparams.utterance_after_decoder_dropout
        losses = self.hparams.loss(
            student.prediction,
            targets.repeat_interleave(clone, 0),
            batch.mask.to(self.device),
            token_out=student.tokens(after),
            frame_out=student.frames(after),
            u_target=u_target.repeat_interleave(clone, 0),
        )
        self.last_loss = losses["total"].detach()
        if stage != sb.Stage.TRAIN:
            return losses["total"]
        self.update_stats.add(losses)
        if self.hparams.normalize_loss_per_update:
            return losses["total"] * losses["n_masked"].clamp(min=1).float()
        return losses["total"]

    def fit_batch(self, batch):
        """``Brain.fit_batch``, returning the loss per masked frame.

        Arguments
        ---------
        batch : PretrainBatch
            The batch.

        Returns
        -------
        torch.Tensor
            Detached loss of the batch.
        """
        super().fit_batch(batch)
        return self.last_loss.cpu()

    # ------------------------------------------------------------ optimizing
    def optimizers_step(self):
        """Unscale, per-update normalisation, global clipping, step."""
        valid_optimizers = self.freeze_optimizers(self.optimizers_dict)
        for opt in valid_optimizers.values():
            self.scaler.unscale_(opt)
        params = [
            p
            for opt in valid_optimizers.values()
            for group in opt.param_groups
            for p in group["params"]
            if p.grad is not None
        ]
        if self.hparams.normalize_loss_per_update:
            total = torch.tensor(float(self.update_stats.n_masked), device=self.device)
            if _world_size() > 1:
                torch.distributed.all_reduce(total)
            factor = self.grad_accumulation_factor * _world_size() / max(float(total), 1.0)
            for p in params:
                p.grad.mul_(factor)
        max_norm = self.max_grad_norm if self.max_grad_norm > 0 else math.inf
        self.grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        if not self.scaler.is_enabled() and self.skip_nonfinite_grads:
            self.check_gradients()
        for opt in valid_optimizers.values():
            self.scaler.step(opt)
        self.scaler.update()
        for opt in valid_optimizers.values():
            opt.zero_grad(set_to_none=True)
        self.optimizer_step += 1

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """After an update: EMA step, lr step, log line, collapse check.

        Arguments
        ---------
        batch : PretrainBatch
            The batch.
        outputs : tuple
            From :meth:`compute_forward`.
        loss : torch.Tensor
            The back-propagated loss.
        should_step : bool
            Whether the optimizer stepped.
        """
        if not should_step:
            return
        step = self.optimizer_step
        teacher = self.hparams.teacher
        decay = teacher.update(unwrap_module(self.hparams.model).encoder, step)
        lr = self.lr_scheduler.step(step)
        stats = self.update_stats.summary()
        self.update_stats.reset()
        stats["grad_norm"] = getattr(self, "grad_norm", float("nan"))
        ema_decay = teacher.decay_at(step) if decay is None else decay
        self.check_collapse(step, stats)
        if self.tensorboard is not None:  # main process only
            scalars = {"lr": lr, "ema_decay": ema_decay, **stats}
            for key, value in scalars.items():
                self.tensorboard.add_scalar(f"train/{key}", value, step)
        if step % self.hparams.log_interval == 0 or step == 1:
            # FileTrainLogger.log_stats is main_process_only: it writes on the
            # main process and broadcasts, so every rank must call it.
            meta = {"step": step, "lr": lr, "ema_decay": f"{ema_decay:.6f}"}
            self.hparams.train_steps_logger.log_stats(
                stats_meta=meta, train_stats=stats, verbose=False
            )

    def check_collapse(self, step: int, stats: dict) -> bool:
        """Warns when targets or predictions lose their spread (the release
        stops training after ``collapse_check_after`` updates instead).

        Arguments
        ---------
        step : int
            Optimizer step.
        stats : dict
            From :meth:`UpdateStats.summary`.

        Returns
        -------
        bool
            True when a collapse was detected.
        """
        if step < self.hparams.collapse_check_after:
            return False
        problems = []
        if stats["target_var"] < self.hparams.min_target_var:
            problems.append(
                f"target_var {stats['target_var']:.4f} < min_target_var "
                f"{self.hparams.min_target_var}"
            )
        if stats["pred_var"] < self.hparams.min_pred_var:
            problems.append(
                f"pred_var {stats['pred_var']:.4f} < min_pred_var "
                f"{self.hparams.min_pred_var}"
            )
        warn = step % self.hparams.log_interval == 0 or not getattr(self, "_warned", False)
        if problems and warn and if_main_process():
            self._warned = True
            logger.warning(
                "REPRESENTATION COLLAPSE? at update %d: %s. The released code "
                "stops training here; this run continues. Check the data, the "
                "lr and the EMA decay; resume from an earlier checkpoint if "
                "the losses went flat.", step, "; ".join(problems),
            )
        return bool(problems)

    # -------------------------------------------------------- checkpointing
    def _should_save_intra_epoch_ckpt(self, last_ckpt_time, steps_since_ckpt):
        """Intra-epoch checkpoints only between updates (the gradients of a
        partial accumulation are not saved)."""
        decision = super()._should_save_intra_epoch_ckpt(last_ckpt_time, steps_since_ckpt)
        return decision and self.step % self.grad_accumulation_factor == 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Epoch log line and checkpoint (after validation when there is a
        validation set, else after training).

        Arguments
        ---------
        stage : sb.Stage
            Training stage.
        stage_loss : float
            Average loss of the stage.
        epoch : int, optional
            Epoch number.
        """
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            if getattr(self, "has_valid", False):
                return
        meta = {"epoch": epoch, "updates": self.optimizer_step,
                "lr": self.optimizer.param_groups[0]["lr"]}
        valid_stats = None
        if stage == sb.Stage.VALID:
            valid_stats = {"loss": stage_loss}
        if stage in (sb.Stage.TRAIN, sb.Stage.VALID):
            # main_process_only inside: called on every rank
            self.hparams.train_logger.log_stats(
                stats_meta=meta, train_stats={"loss": self.train_loss},
                valid_stats=valid_stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"loss": stage_loss, "updates": self.optimizer_step},
                num_to_keep=self.hparams.keep_checkpoints,
            )
