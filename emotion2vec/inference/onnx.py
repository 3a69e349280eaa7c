"""``emotion2vec export-onnx``: the encoder (and head) as an ONNX graph.

Graph inputs: ``wavs`` float32 ``[batch, samples]`` (16 kHz, right
zero-padded, raw: the graph normalises each waveform on its valid length)
and ``lengths`` int64 ``[batch]`` (valid samples, at least the receptive
field, 400 samples for the released models). Outputs: ``frames`` float32
``[batch, frames, dim]`` (last block, utterance tokens removed, zero at
padded frames), ``utterance`` ``[batch, dim]`` (mean of the valid frames)
and, when the model has a head, ``logits`` ``[batch, labels]`` (raw head
output: give ``unuse*`` labels ``-inf`` before a softmax, as
``Emotion2vecClassifier`` does). Batch and time axes are dynamic; the head
labels and the model config are stored in the model's metadata
(``labels``, ``config`` as JSON).

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)``
(opset 17). It needs only the ``onnx`` package, while the dynamo exporter
(the default in torch >= 2.9) also needs ``onnxscript``. SDPA, the ALiBi
bias and the ``masked_fill`` padding masks export as they are. The tracer
records the branch a Python ``if`` takes, so the trace example is a padded
batch: the padding-mask path is the one recorded, and it gives the same
result on unpadded input.

Authors
 * emotion2vec-sb contributors
"""

import json
import warnings
from pathlib import Path
from typing import Sequence, Union

import torch
from torch import nn

from emotion2vec.audio import SAMPLE_RATE
from emotion2vec.fileutils import staged_file
from emotion2vec.model import Emotion2vecModel, masked_mean

INPUT_NAMES = ["wavs", "lengths"]


class OnnxEncoder(nn.Module):
    """The export graph: ``(wavs, lengths)`` -> frames, utterance[, logits].

    Arguments
    ---------
    model : Emotion2vecModel
        The model (put in eval mode).

    Example
    -------
    >>> model = Emotion2vecModel(
    ...     embed_dim=32, num_heads=4, depth=1, prenet_depth=1,
    ...     feature_encoder_spec="[(16, 10, 5)] + [(16, 3, 2)] * 4"
    ...     " + [(16,2,2)] * 2", decoder_dim=16)
    >>> frames, utterance = OnnxEncoder(model)(
    ...     torch.randn(2, 16000), torch.tensor([16000, 8000]))
    >>> frames.shape, utterance.shape
    (torch.Size([2, 49, 32]), torch.Size([2, 32]))
    """

    def __init__(self, model: Emotion2vecModel):
        super().__init__()
        self.model = model.eval()

    @property
    def output_names(self):
        """Graph output names."""
        names = ["frames", "utterance"]
        return names + ["logits"] if self.model.head is not None else names

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor):
        """Runs the model with an explicit padding mask (no data-dependent
        branches, unlike ``extract_features``' input checks).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` raw 16 kHz waveforms.
        lengths : torch.Tensor
            ``[batch]`` valid samples (int64).

        Returns
        -------
        tuple of torch.Tensor
            ``frames``, ``utterance`` (and ``logits`` with a head).
        """
        model = self.model
        valid = torch.arange(wavs.shape[1], device=wavs.device) < lengths.unsqueeze(1)
        if model.config.normalize:
            wavs = model.normalize_waveforms(wavs, lengths)
        else:
            wavs = wavs.masked_fill(~valid, 0.0)
        x, frame_lens = model.feature_extractor(wavs, lengths)
        x = model.feature_projection(x)
        frame_lens = frame_lens.clamp(max=x.shape[1])
        steps = torch.arange(x.shape[1], device=x.device)
        padding_mask = steps.unsqueeze(0) >= frame_lens.unsqueeze(1)
        enc = model.encoder(x, padding_mask)
        frames = enc.hidden[:, enc.num_tokens :] * (~padding_mask).unsqueeze(-1).to(x.dtype)
        utterance = masked_mean(frames, frame_lens)
        if model.head is None:
            return frames, utterance
        return frames, utterance, model.head(utterance)


def _trace_example(model: Emotion2vecModel):
    samples = max(SAMPLE_RATE, 4 * model.min_samples)  # at least one second
    wavs = torch.randn(2, samples, generator=torch.Generator().manual_seed(0))
    return wavs, torch.tensor([samples, (samples * 3) // 5])


def export_onnx(
    model: Emotion2vecModel, out_path: Union[str, Path], opset: int = 17
) -> Path:
    """Exports a model to ONNX (see the module docstring for the graph).

    Arguments
    ---------
    model : Emotion2vecModel
        The model (moved to the CPU and put in eval mode).
    out_path : str or Path
        ONNX file to write (parent folders are created).
    opset : int
        ONNX opset (>= 14 for attention).

    Returns
    -------
    Path
        ``out_path``.
    """
    try:
        import onnx
    except ImportError:
        raise ImportError(
            "ONNX export needs the onnx package: pip install 'emotion2vec[onnx]'"
        ) from None
    out_path = Path(out_path)
    wrapper = OnnxEncoder(model.cpu()).eval()
    outputs = wrapper.output_names
    dynamic_axes = {
        "wavs": {0: "batch", 1: "samples"},
        "lengths": {0: "batch"},
        "frames": {0: "batch", 1: "frames"},
        "utterance": {0: "batch"},
        "logits": {0: "batch"},
    }
    with staged_file(out_path) as tmp:  # no half-written file on failure
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*ONNX.*")
            torch.onnx.export(
                wrapper, _trace_example(model), str(tmp), dynamo=False,
                opset_version=opset, input_names=INPUT_NAMES, output_names=outputs,
                dynamic_axes={k: v for k, v in dynamic_axes.items() if k in INPUT_NAMES + outputs},
                do_constant_folding=True,
            )
        proto = onnx.load(str(tmp))
        metadata = {
            "labels": json.dumps(list(getattr(model, "labels", []) or []), ensure_ascii=False),
            "config": json.dumps(model.config.to_dict(), ensure_ascii=False),
            "sample_rate": str(SAMPLE_RATE),
        }
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
    return out_path


def verify_onnx(
    model: Emotion2vecModel,
    onnx_path: Union[str, Path],
    seconds: Sequence[float] = (1.3, 0.9, 0.5),
    atol: float = 1e-4,
) -> float:
    """Compares onnxruntime with PyTorch on a padded random batch.

    The default lengths differ from the export trace, so dynamic axes are
    exercised.

    Arguments
    ---------
    model : Emotion2vecModel
        The exported model.
    onnx_path : str or Path
        The ONNX file.
    seconds : sequence of float
        Lengths of the test batch items.
    atol : float
        Largest accepted absolute difference.

    Returns
    -------
    float
        Largest absolute difference over all outputs.
    """
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "verification needs onnxruntime: pip install 'emotion2vec[onnx]'"
        ) from None
    lengths = torch.tensor([max(model.min_samples, int(s * SAMPLE_RATE)) for s in seconds])
    generator = torch.Generator().manual_seed(1)
    wavs = torch.randn(len(lengths), int(lengths.max()), generator=generator)
    wavs = wavs * (torch.arange(wavs.shape[1]) < lengths.unsqueeze(1))
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"wavs": wavs.numpy(), "lengths": lengths.numpy()})
    model = model.cpu().eval()
    with torch.no_grad():
        out = model.extract_features(wavs, lengths=lengths)
    expected = [out.frames, out.utterance] + ([out.logits] if out.logits is not None else [])
    if len(got) != len(expected):
        raise ValueError(f"{onnx_path}: {len(got)} outputs, expected {len(expected)}")
    error = max(float((torch.from_numpy(g) - e).abs().max()) for g, e in zip(got, expected))
    if error > atol:
        raise ValueError(
            f"{onnx_path}: onnxruntime differs from PyTorch by {error:.2e} (> {atol:.0e})"
        )
    return error
