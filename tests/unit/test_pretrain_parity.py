"""Pre-training parity with the official implementation.

``tests/fixtures/parity_small/pretrain_a_*`` were written by FunASR's
emotion2vec code (the released data2vec 2.0 code path) in eval mode with
``clone_batch`` 2 of ``wav_a`` and a fixed block mask: student outputs at
the kept frames and at the tokens, the decoder input (with its noise) and
output, the teacher targets, and the loss sums (``manifest.json``). Every
array must match within ``1e-4 * max(1, max|ref|)``.
"""

import json

import numpy as np
import pytest
import torch

from emotion2vec.checkpoints import read_official_checkpoint
from emotion2vec.model import Emotion2vecModel
from emotion2vec.pretrain.losses import Emotion2vecLoss, frame_loss, utterance_loss, utterance_prediction
from emotion2vec.pretrain.student import decoder_input, student_encode, student_forward
from emotion2vec.pretrain.teacher import make_teacher, teacher_targets
from tests.parity import FIXTURE, assert_close, ref


@pytest.fixture(scope="module")
def manifest():
    return json.loads((FIXTURE / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model():
    checkpoint = read_official_checkpoint(FIXTURE / "ckpt" / "plain_state_dict.pt")
    model = Emotion2vecModel(checkpoint.config)
    model.load_state_dict(checkpoint.state_dict)
    assert model.decoder is not None
    return model.eval()


@pytest.fixture(scope="module")
def run(model, manifest):
    """Our student and teacher on the fixture's input and mask."""
    wav = torch.from_numpy(ref("wav_a.npy")).unsqueeze(0)
    lengths = torch.tensor([wav.shape[1]])
    clone = manifest["clone_batch_pretrain"]
    mask = torch.from_numpy(ref("pretrain_a_mask.npy")).bool()
    with torch.no_grad():
        wav = model.normalize_waveforms(wav, lengths)
        out = student_forward(model, wav, mask, clone)
        targets = teacher_targets(
            make_teacher(model), out.local_features,
            manifest["model_conf"]["average_top_k_layers"],
            manifest["model_conf"]["instance_norm_target_layer"],
        )
    return {"mask": mask, "out": out, "targets": targets, "clone": clone}


def test_fixture_mask_is_a_block_mask(run):
    mask = run["mask"]
    T = mask.shape[1]
    assert mask.sum(dim=1).tolist() == [int(0.5 * T)] * mask.shape[0]


def test_kept_frames_match_official(run):
    out = run["out"]
    assert out.keep_idx.tolist() == ref("pretrain_a_student_kept_idx.npy").tolist()
    assert not run["mask"].gather(1, out.keep_idx).any()
    assert_close("pretrain_a_student_kept_out.npy", out.frames(after_dropout=False))
    assert_close("pretrain_a_student_extra_out.npy", out.tokens(after_dropout=False))


def test_student_encode_alone(model, run):
    x = run["out"].local_features.repeat_interleave(run["clone"], 0)
    with torch.no_grad():
        hidden, keep, _ = student_encode(model.encoder, x, run["mask"])
    assert_close("pretrain_a_student_kept_out.npy", hidden[:, model.encoder.num_tokens:])


def test_decoder_input_places_outputs_and_noise(model, run):
    out = run["out"]
    expected = torch.from_numpy(ref("pretrain_a_decoder_in.npy"))
    fill = torch.gather(
        expected, 1, out.masked_idx.unsqueeze(-1).expand(-1, -1, expected.shape[-1])
    )
    dec_in, _ = decoder_input(
        out.hidden, out.keep_idx, out.masked_idx, model.encoder.num_tokens, fill=fill
    )
    assert_close("pretrain_a_decoder_in.npy", dec_in)
    # our own noise: right place, right scale
    noise = out.decoder_in.gather(
        1, out.masked_idx.unsqueeze(-1).expand(-1, -1, expected.shape[-1])
    )
    assert 0.005 < float(noise.std()) < 0.02


def test_decoder_matches_official(model):
    with torch.no_grad():
        pred = model.decoder(torch.from_numpy(ref("pretrain_a_decoder_in.npy")))
    assert_close("pretrain_a_decoder_out.npy", pred)


def test_teacher_targets_match_official(run):
    assert_close("pretrain_a_teacher_targets.npy", run["targets"][0])


def _loss_inputs(run):
    pred = torch.from_numpy(ref("pretrain_a_decoder_out.npy"))
    target = run["targets"].repeat_interleave(run["clone"], 0)
    return pred, target


def test_loss_sums_match_official(run, manifest):
    scalars = manifest["pretrain_scalars"]
    pred, target = _loss_inputs(run)
    frame_sum, n_masked = frame_loss(pred, target, run["mask"])
    assert int(n_masked) == scalars["n_masked"]
    assert frame_sum.item() == pytest.approx(scalars["regression_sum"], rel=1e-5)
    u_target = run["targets"].mean(dim=1).repeat_interleave(run["clone"], 0)
    tokens = run["out"].tokens(after_dropout=False)
    for cls_type, key in (("chunk", "cls_sum_chunk_mean_of_tokens"),
                          ("single", "cls_sum_single_last_token")):
        u_pred = utterance_prediction(tokens, cls_type=cls_type)
        total = utterance_loss(u_pred, u_target, 1)
        assert total.item() == pytest.approx(scalars[key], rel=1e-4, abs=1e-5), cls_type


@pytest.mark.parametrize("cls_type", ["chunk", "single"])
def test_total_loss_matches_fairseq_normalisation(run, manifest, cls_type):
    pred, target = _loss_inputs(run)
    losses = Emotion2vecLoss(cls_weight=1.0, cls_type=cls_type)(
        pred, target, run["mask"], token_out=run["out"].tokens(after_dropout=False)
    )
    s = manifest["pretrain_scalars"]
    if cls_type == "chunk":
        expected = s["fairseq_total_chunk"]
    else:  # fairseq: (regression + cls_loss * n_masked * cls) / n_masked
        expected = s["regression_sum"] / s["n_masked"] + s["cls_sum_single_last_token"]
    assert losses["total"].item() == pytest.approx(expected, rel=1e-5)
    assert int(losses["n_masked"]) == manifest["pretrain_scalars"]["n_masked"]


def test_eval_student_is_deterministic_except_noise(model, run):
    """In eval mode only the decoder fill noise is random; kept outputs are
    identical across calls and the decoder input differs only where masked."""
    out = run["out"]
    wav = torch.from_numpy(ref("wav_a.npy")).unsqueeze(0)
    with torch.no_grad():
        wav = model.normalize_waveforms(wav, torch.tensor([wav.shape[1]]))
        again = student_forward(model, wav, run["mask"], run["clone"])
    assert torch.equal(again.hidden, out.hidden)
    kept = out.keep_idx.unsqueeze(-1).expand(-1, -1, out.hidden.shape[-1])
    assert torch.equal(again.decoder_in.gather(1, kept), out.decoder_in.gather(1, kept))
