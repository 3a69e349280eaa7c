"""FunASR / ModelScope layout: the official ``model_conf`` of a config and
our weights under FunASR names (what ``emotion2vec convert --to funasr``
writes, loadable by FunASR's ``AutoModel(model=DIR)``).

Authors
 * emotion2vec-sb contributors
"""

from typing import Dict

from emotion2vec.checkpoints.keys import to_official_state_dict
from emotion2vec.model.config import Emotion2vecConfig

#: Files of the FunASR layout.
FUNASR_FILES = ("config.yaml", "configuration.json", "model.pt", "tokens.txt")
#: Key prefix of the backbone in FunASR's ``model.pt`` (declared by ``scope_map``).
BACKBONE_PREFIX = "d2v_model."


def official_model_conf(config: Emotion2vecConfig) -> Dict:
    """The official (FunASR ``config.yaml`` ``model_conf``) form of a config.

    Pre-training fields that our config does not own (clone_batch, EMA,
    loss weights) come from ``config.extra`` or the released defaults.

    Arguments
    ---------
    config : Emotion2vecConfig
        Our config.

    Returns
    -------
    dict
        ``model_conf`` with ``modalities.audio`` and its ``decoder``.

    Example
    -------
    >>> conf = official_model_conf(Emotion2vecConfig())
    >>> conf["embed_dim"], conf["modalities"]["audio"]["prenet_depth"]
    (768, 4)
    >>> Emotion2vecConfig.from_official(conf).embed_dim
    768
    """
    extra = dict(config.extra)
    audio = {
        "type": "AUDIO",
        "prenet_depth": config.prenet_depth,
        "prenet_layerdrop": config.prenet_layerdrop,
        "prenet_dropout": config.prenet_dropout,
        "start_drop_path_rate": 0.0,
        "end_drop_path_rate": 0.0,
        "num_extra_tokens": config.num_extra_tokens,
        "init_extra_token_zero": True,
        "mask_noise_std": config.mask_noise_std,
        "mask_prob_min": None,
        "mask_prob": extra.get("mask_prob", 0.5),
        "inverse_mask": False,
        "mask_prob_adjust": extra.get("mask_prob_adjust", 0.05),
        "keep_masked_pct": 0.0,
        "mask_length": extra.get("mask_length", 5),
        "add_masks": False,
        "remove_masks": False,
        "mask_dropout": 0.0,
        "encoder_zero_mask": True,
        "mask_channel_prob": 0.0,
        "mask_channel_length": 64,
        "ema_local_encoder": False,
        "local_grad_mult": 1.0,
        "use_alibi_encoder": True,
        "alibi_scale": 1.0,
        "learned_alibi": False,
        "alibi_max_pos": None,
        "learned_alibi_scale": True,
        "learned_alibi_scale_per_head": True,
        "learned_alibi_scale_per_layer": False,
        "num_alibi_heads": config.num_heads,
        "model_depth": config.depth,
        "decoder": {
            "decoder_dim": config.decoder_dim,
            "decoder_groups": config.decoder_groups,
            "decoder_kernel": config.decoder_kernel,
            "decoder_layers": config.decoder_layers,
            "input_dropout": config.decoder_input_dropout,
            "add_positions_masked": False,
            "add_positions_all": False,
            "decoder_residual": config.decoder_residual,
            "projection_layers": 1,
            "projection_ratio": 2.0,
        },
        "extractor_mode": config.extractor_mode,
        "feature_encoder_spec": config.feature_encoder_spec,
        "conv_pos_width": config.conv_pos_width,
        "conv_pos_groups": config.conv_pos_groups,
        "conv_pos_depth": config.conv_pos_depth,
        "conv_pos_pre_ln": config.conv_pos_pre_ln,
    }
    return {
        "loss_beta": extra.get("loss_beta", 0.0),
        "loss_scale": extra.get("loss_scale", None),
        "depth": config.depth,
        "start_drop_path_rate": 0.0,
        "end_drop_path_rate": 0.0,
        "num_heads": config.num_heads,
        "norm_eps": config.norm_eps,
        "norm_affine": True,
        "encoder_dropout": config.encoder_dropout,
        "post_mlp_drop": config.post_mlp_drop,
        "attention_dropout": config.attention_dropout,
        "activation_dropout": config.activation_dropout,
        "dropout_input": config.dropout_input,
        "layerdrop": config.layerdrop,
        "embed_dim": config.embed_dim,
        "mlp_ratio": config.mlp_ratio,
        "layer_norm_first": False,
        "average_top_k_layers": extra.get("average_top_k_layers", config.depth),
        "end_of_block_targets": False,
        "clone_batch": extra.get("clone_batch", 8),
        "layer_norm_target_layer": False,
        "batch_norm_target_layer": False,
        "instance_norm_target_layer": extra.get("instance_norm_target_layer", True),
        "instance_norm_targets": False,
        "layer_norm_targets": False,
        "ema_decay": extra.get("ema_decay", 0.999),
        "ema_same_dtype": True,
        "log_norms": True,
        "ema_end_decay": extra.get("ema_end_decay", 0.99999),
        "ema_anneal_end_step": extra.get("ema_anneal_end_step", 20000),
        "ema_encoder_only": False,
        "max_update": 100000,
        "extractor_mode": config.extractor_mode,
        "shared_decoder": None,
        "min_target_var": 0.1,
        "min_pred_var": 0.01,
        "supported_modality": "AUDIO",
        "mae_init": False,
        "seed": 1,
        "skip_ema": False,
        "cls_loss": extra.get("cls_loss", 1.0),
        "recon_loss": 0.0,
        "d2v_loss": extra.get("d2v_loss", 1.0),
        "decoder_group": False,
        "adversarial_training": False,
        "adversarial_hidden_dim": 128,
        "adversarial_weight": 0.1,
        "cls_type": extra.get("cls_type", "chunk"),
        "normalize": config.normalize,
        "modalities": {"audio": audio},
    }


def funasr_config(config: Emotion2vecConfig, has_head: bool) -> dict:
    """The FunASR ``config.yaml`` of a model (plus-model layout).

    Arguments
    ---------
    config : Emotion2vecConfig
        Architecture.
    has_head : bool
        Whether a classification head (and ``tokens.txt``) is exported.

    Returns
    -------
    dict

    Example
    -------
    >>> conf = funasr_config(Emotion2vecConfig(), has_head=False)
    >>> conf["model"], conf["scope_map"], "tokenizer" in conf
    ('Emotion2vec', ['d2v_model.', 'none'], False)
    """
    conf = {"model": "Emotion2vec", "model_conf": official_model_conf(config)}
    if has_head:
        conf["tokenizer"] = "CharTokenizer"
        conf["tokenizer_conf"] = {"unk_symbol": "<unk>", "split_with_space": True}
    conf["scope_map"] = [BACKBONE_PREFIX, "none"]
    return conf


def funasr_state_dict(state: dict, extractor_mode: str = "layer_norm") -> dict:
    """Our weights under FunASR names: backbone ``d2v_model.*``, head
    ``proj.*``.

    Arguments
    ---------
    state : dict
        Our state dict.
    extractor_mode : str
        Conv front-end mode.

    Returns
    -------
    dict

    Example
    -------
    >>> import torch
    >>> sd = funasr_state_dict({"encoder.alibi_scale": torch.ones(1),
    ...                         "head.bias": torch.zeros(2)})
    >>> sorted(sd)
    ['d2v_model.modality_encoders.AUDIO.alibi_scale', 'proj.bias']
    """
    out = {}
    for key, value in to_official_state_dict(state, extractor_mode).items():
        name = key if key.startswith("proj.") else BACKBONE_PREFIX + key
        out[name] = value.detach().cpu().contiguous()
    return out
