"""Architecture configuration of an emotion2vec model.

Field names follow the official (fairseq / FunASR) ``model_conf`` names so
that a released ``config.yaml`` maps onto this dataclass one to one; see
``Emotion2vecConfig.from_official``.

Authors
 * emotion2vec-sb contributors
"""

import ast
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

#: The released conv front-end: (channels, kernel, stride) per layer.
DEFAULT_FEATURE_ENCODER_SPEC = (
    "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"
)


def parse_feature_encoder_spec(spec) -> List[Tuple[int, int, int]]:
    """Parses the official conv front-end spec into (channels, kernel, stride).

    The official configs write the spec as a Python expression such as
    ``"[(512, 10, 5)] + [(512, 3, 2)] * 4"``. Only list literals, ``+`` and
    ``*`` are accepted: the string is never ``eval``-ed.

    Arguments
    ---------
    spec : str or list
        The spec string, or an already parsed list of triples.

    Returns
    -------
    list of (int, int, int)
        One ``(channels, kernel, stride)`` triple per conv layer.

    Example
    -------
    >>> parse_feature_encoder_spec("[(8, 10, 5)] + [(8, 3, 2)] * 2")
    [(8, 10, 5), (8, 3, 2), (8, 3, 2)]
    """
    if not isinstance(spec, str):
        return [tuple(int(v) for v in layer) for layer in spec]

    def evaluate(node):
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [evaluate(e) for e in node.elts]
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return evaluate(node.left) + evaluate(node.right)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            return evaluate(node.left) * evaluate(node.right)
        raise ValueError(f"unsupported feature_encoder_spec: {spec!r}")

    layers = evaluate(ast.parse(spec, mode="eval"))
    result = []
    for layer in layers:
        if not isinstance(layer, list) or len(layer) != 3:
            raise ValueError(
                f"feature_encoder_spec entries must be (dim, kernel, stride)"
                f" triples, got {layer!r} in {spec!r}"
            )
        result.append(tuple(int(v) for v in layer))
    return result


@dataclass
class Emotion2vecConfig:
    """Every architecture choice of an emotion2vec model.

    Defaults describe the released ``emotion2vec_base``. Dropout and
    layerdrop values matter in training only.

    Arguments
    ---------
    embed_dim : int
        Transformer width D.
    num_heads : int
        Attention heads H (also the number of ALiBi slopes).
    depth : int
        Number of main Transformer blocks.
    prenet_depth : int
        Number of blocks in the modality prenet (``context_encoder``).
    mlp_ratio : float
        FFN width = ``mlp_ratio * embed_dim``.
    norm_eps : float
        LayerNorm epsilon of the Transformer blocks.
    num_extra_tokens : int
        Number of utterance tokens prepended to the frames.
    feature_encoder_spec : str
        Conv front-end layers as ``(channels, kernel, stride)``.
    extractor_mode : str
        ``layer_norm`` (LayerNorm in every conv layer, all releases) or
        ``default`` (GroupNorm on the first layer only).
    conv_pos_width, conv_pos_depth, conv_pos_groups : int
        Positional conv stack: kernel ``max(3, width // depth)``.
    conv_pos_pre_ln : bool
        LayerNorm before the positional conv stack.
    decoder_dim, decoder_kernel, decoder_groups, decoder_layers : int
        CNN decoder used by pre-training.
    decoder_residual : bool
        Residual connections between decoder layers of equal width.
    build_decoder : bool
        Whether to build the decoder (inference does not need it).
    num_labels : int
        Size of the classification head (0 = no head).
    normalize : bool
        Normalise each waveform to zero mean / unit variance.
    encoder_dropout, attention_dropout, activation_dropout : float
        Dropout after attention/FFN projections, on attention probs, in FFN.
    post_mlp_drop, dropout_input, prenet_dropout : float
        Dropout after the FFN, before the main blocks, after the prenet norm.
    layerdrop, prenet_layerdrop : float
        Whole-block drop probabilities in training.
    decoder_input_dropout : float
        Dropout on the student output before the decoder.
    mask_noise_std : float
        Std of the noise placed at masked decoder inputs.

    Example
    -------
    >>> cfg = Emotion2vecConfig(embed_dim=64, num_heads=4)
    >>> cfg.ffn_dim, cfg.num_blocks
    (256, 12)
    """

    embed_dim: int = 768
    num_heads: int = 12
    depth: int = 8
    prenet_depth: int = 4
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-5
    num_extra_tokens: int = 10
    feature_encoder_spec: str = DEFAULT_FEATURE_ENCODER_SPEC
    extractor_mode: str = "layer_norm"
    conv_pos_width: int = 95
    conv_pos_depth: int = 5
    conv_pos_groups: int = 16
    conv_pos_pre_ln: bool = False
    decoder_dim: int = 384
    decoder_kernel: int = 7
    decoder_groups: int = 16
    decoder_layers: int = 4
    decoder_residual: bool = True
    build_decoder: bool = True
    num_labels: int = 0
    normalize: bool = True
    encoder_dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    post_mlp_drop: float = 0.1
    dropout_input: float = 0.0
    prenet_dropout: float = 0.1
    layerdrop: float = 0.05
    prenet_layerdrop: float = 0.05
    decoder_input_dropout: float = 0.1
    mask_noise_std: float = 0.01
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by "
                f"num_heads {self.num_heads}"
            )
        if self.extractor_mode not in ("layer_norm", "default"):
            raise ValueError(
                f"extractor_mode must be 'layer_norm' or 'default', "
                f"got {self.extractor_mode!r}"
            )
        parse_feature_encoder_spec(self.feature_encoder_spec)

    @property
    def ffn_dim(self) -> int:
        """Inner width of the Transformer FFN."""
        return int(self.embed_dim * self.mlp_ratio)

    @property
    def num_blocks(self) -> int:
        """Total Transformer blocks: prenet then main."""
        return self.prenet_depth + self.depth

    @property
    def conv_layers(self) -> List[Tuple[int, int, int]]:
        """The conv front-end as (channels, kernel, stride) triples."""
        return parse_feature_encoder_spec(self.feature_encoder_spec)

    @property
    def conv_pos_kernel(self) -> int:
        """Kernel size of each positional conv layer."""
        return max(3, self.conv_pos_width // self.conv_pos_depth)

    @property
    def receptive_field(self) -> int:
        """Samples seen by one output frame of the conv front-end."""
        field_, jump = 1, 1
        for _, kernel, stride in self.conv_layers:
            field_ += (kernel - 1) * jump
            jump *= stride
        return field_

    @property
    def hop_length(self) -> int:
        """Samples between two output frames of the conv front-end."""
        return math.prod(stride for _, _, stride in self.conv_layers)

    def to_dict(self) -> Dict[str, Any]:
        """Plain-dict form (JSON serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "Emotion2vecConfig":
        """Builds a config from ``to_dict`` output, rejecting unknown keys.

        Arguments
        ---------
        values : dict
            Field values.

        Returns
        -------
        Emotion2vecConfig

        Example
        -------
        >>> cfg = Emotion2vecConfig(embed_dim=64, num_heads=4)
        >>> Emotion2vecConfig.from_dict(cfg.to_dict()) == cfg
        True
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown emotion2vec config fields: {unknown}")
        return cls(**values)

    @classmethod
    def from_official(
        cls, model_conf: Dict[str, Any], normalize: Optional[bool] = None
    ) -> "Emotion2vecConfig":
        """Reads an official ``model_conf`` (FunASR) or ``cfg['model']``.

        Numbers are coerced explicitly: PyYAML reads ``1e-05`` as a string.

        Arguments
        ---------
        model_conf : dict
            The official model configuration (with ``modalities.audio``).
        normalize : bool, optional
            Overrides ``model_conf['normalize']`` (fairseq keeps it in the
            task config).

        Returns
        -------
        Emotion2vecConfig

        Example
        -------
        >>> conf = {"embed_dim": 64, "num_heads": 4, "norm_eps": "1e-05",
        ...         "modalities": {"audio": {"prenet_depth": 1}}}
        >>> cfg = Emotion2vecConfig.from_official(conf)
        >>> cfg.prenet_depth, cfg.norm_eps
        (1, 1e-05)
        """
        audio = dict((model_conf.get("modalities") or {}).get("audio") or {})
        decoder = dict(audio.get("decoder") or {})

        def pick(source, key, cast, default):
            value = source.get(key, None)
            if value is None:
                return default
            if cast is bool and isinstance(value, str):
                return value.strip().lower() in ("true", "1", "yes")
            return cast(float(value)) if cast is int else cast(value)

        d = cls()
        if normalize is None:
            normalize = pick(model_conf, "normalize", bool, d.normalize)
        return cls(
            embed_dim=pick(model_conf, "embed_dim", int, d.embed_dim),
            num_heads=pick(model_conf, "num_heads", int, d.num_heads),
            depth=pick(model_conf, "depth", int, d.depth),
            prenet_depth=pick(audio, "prenet_depth", int, d.prenet_depth),
            mlp_ratio=pick(model_conf, "mlp_ratio", float, d.mlp_ratio),
            norm_eps=pick(model_conf, "norm_eps", float, 1e-6),
            num_extra_tokens=pick(
                audio, "num_extra_tokens", int, d.num_extra_tokens
            ),
            feature_encoder_spec=str(
                audio.get("feature_encoder_spec") or d.feature_encoder_spec
            ),
            extractor_mode=str(
                audio.get("extractor_mode")
                or model_conf.get("extractor_mode")
                or d.extractor_mode
            ),
            conv_pos_width=pick(audio, "conv_pos_width", int, 95),
            conv_pos_depth=pick(audio, "conv_pos_depth", int, 5),
            conv_pos_groups=pick(audio, "conv_pos_groups", int, 16),
            conv_pos_pre_ln=pick(audio, "conv_pos_pre_ln", bool, False),
            decoder_dim=pick(decoder, "decoder_dim", int, d.decoder_dim),
            decoder_kernel=pick(decoder, "decoder_kernel", int, 5),
            decoder_groups=pick(decoder, "decoder_groups", int, 16),
            decoder_layers=pick(decoder, "decoder_layers", int, 5),
            decoder_residual=pick(decoder, "decoder_residual", bool, True),
            normalize=bool(normalize),
            encoder_dropout=pick(model_conf, "encoder_dropout", float, 0.1),
            attention_dropout=pick(
                model_conf, "attention_dropout", float, 0.1
            ),
            activation_dropout=pick(
                model_conf, "activation_dropout", float, 0.0
            ),
            post_mlp_drop=pick(model_conf, "post_mlp_drop", float, 0.1),
            dropout_input=pick(model_conf, "dropout_input", float, 0.0),
            prenet_dropout=pick(audio, "prenet_dropout", float, 0.0),
            layerdrop=pick(model_conf, "layerdrop", float, 0.0),
            prenet_layerdrop=pick(audio, "prenet_layerdrop", float, 0.0),
            decoder_input_dropout=pick(decoder, "input_dropout", float, 0.1),
            mask_noise_std=pick(audio, "mask_noise_std", float, 0.01),
            extra={
                k: model_conf[k]
                for k in (
                    "clone_batch",
                    "average_top_k_layers",
                    "cls_type",
                    "cls_loss",
                    "d2v_loss",
                    "ema_decay",
                    "ema_end_decay",
                    "ema_anneal_end_step",
                    "instance_norm_target_layer",
                    "loss_beta",
                    "loss_scale",
                )
                if k in model_conf
            }
            | {
                k: audio[k]
                for k in ("mask_prob", "mask_prob_adjust", "mask_length")
                if k in audio
            },
        )
