"""Tests for emotion2vec.pretrain.losses (hand-computed cases).

Authors
 * emotion2vec-sb contributors
"""

import math

import pytest
import torch

from emotion2vec.pretrain.losses import (
    Emotion2vecLoss,
    d2v_regression,
    frame_loss,
    mean_channel_std,
    utterance_loss,
    utterance_prediction,
)


def test_regression_mse_scaled_by_inverse_sqrt_dim():
    pred = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    target = torch.zeros(1, 9)
    got = d2v_regression(pred, target)
    assert torch.allclose(got, pred**2 / 3.0)
    scaled = d2v_regression(pred, target, loss_scale=2.0)
    assert torch.allclose(scaled, pred**2 * 2)


def test_regression_smooth_l1():
    pred = torch.tensor([[0.5, 3.0, -2.0, 0.0]])
    target = torch.zeros(1, 4)
    # beta = 1: 0.5 * x^2 / beta below beta, |x| - 0.5 * beta above.
    expected = torch.tensor([[0.125, 2.5, 1.5, 0.0]]) / 2.0
    assert torch.allclose(d2v_regression(pred, target, loss_beta=1.0), expected)


def test_regression_float32_from_bf16():
    got = d2v_regression(torch.ones(2, 4).bfloat16(), torch.zeros(2, 4))
    assert got.dtype == torch.float32


def test_frame_loss_sums_masked_only():
    pred = torch.tensor(
        [[[1.0, 1.0, 1.0, 1.0], [9.0, 9.0, 9.0, 9.0], [2.0, 0.0, 0.0, 0.0]]]
    )
    target = torch.zeros(1, 3, 4)
    masked = torch.tensor([[True, False, True]])
    total, n = frame_loss(pred, target, masked)
    assert n.item() == 2
    assert total.item() == pytest.approx((4 * 1 + 4) / 2)


def test_utterance_prediction_each_cls_type():
    tokens = torch.tensor([[[1.0, 0.0], [2.0, 4.0], [6.0, 8.0]]])
    frames = torch.tensor([[[1.0, 1.0], [3.0, 5.0]]])
    expected = {
        "chunk": [[3.0, 4.0]],
        "single": [[6.0, 8.0]],
        "token": [[1.0, 0.0]],
    }
    for cls_type, value in expected.items():
        assert utterance_prediction(tokens, cls_type=cls_type).tolist() == value
    assert utterance_prediction(None, frames, "global").tolist() == [[2.0, 3.0]]
    one = tokens[:, :1]
    assert torch.equal(
        utterance_prediction(one, cls_type="token"),
        utterance_prediction(one, cls_type="single"),
    )
    with pytest.raises(ValueError):
        utterance_prediction(tokens, cls_type="mean")
    with pytest.raises(ValueError):
        utterance_prediction(None, cls_type="chunk")
    with pytest.raises(ValueError):
        utterance_prediction(tokens, None, "global")


def test_utterance_loss_by_hand():
    u = torch.tensor([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    y = torch.zeros(2, 4)
    # (1 + 4 + 9) / sqrt(4) = 7, times n_masked = 5
    assert utterance_loss(u, y, 5).item() == pytest.approx(35.0)
    assert utterance_loss(u, y, torch.tensor(5)).item() == pytest.approx(35.0)


def test_emotion2vec_loss_normalisation():
    torch.manual_seed(0)
    pred = torch.randn(4, 6, 9, requires_grad=True)
    target = torch.randn(4, 6, 9)
    masked = torch.rand(4, 6) > 0.5
    tokens = torch.randn(4, 3, 9, requires_grad=True)
    loss_fn = Emotion2vecLoss(d2v_weight=1.0, cls_weight=0.5, cls_type="chunk")
    out = loss_fn(pred, target, masked, token_out=tokens)

    n = int(masked.sum())
    frame = ((pred - target) ** 2)[masked].sum() / 3.0
    u_pred = tokens.mean(dim=1)
    u_tgt = target.mean(dim=1)
    utt = ((u_pred - u_tgt) ** 2).sum() / 3.0
    assert out["n_masked"].item() == n
    assert out["frame_loss"].item() == pytest.approx(frame.item() / n, rel=1e-5)
    # the n_masked factor cancels against the normalisation
    utt_loss = out["utterance_loss"].item()
    assert utt_loss == pytest.approx(0.5 * utt.item(), rel=1e-5)
    assert out["total"].item() == pytest.approx(
        out["frame_loss"].item() + out["utterance_loss"].item(), rel=1e-6
    )
    assert not out["frame_loss"].requires_grad
    out["total"].backward()
    assert pred.grad is not None and tokens.grad is not None
    assert pred.grad[~masked].abs().sum() == 0
    for key in ("pred_std", "target_std"):
        assert out[key].dim() == 0


def test_emotion2vec_loss_global_and_disabled_utterance():
    pred = torch.ones(2, 4, 4)
    target = torch.zeros(2, 4, 4)
    masked = torch.ones(2, 4, dtype=torch.bool)
    frames = torch.full((2, 2, 4), 2.0)
    loss_fn = Emotion2vecLoss(cls_type="global")
    out = loss_fn(pred, target, masked, frame_out=frames)
    # frame: 8 frames * 4 dims * 1 / 2 / 8 = 2; utt: 2 * 4 * 4 / 2 = 16
    assert out["frame_loss"].item() == pytest.approx(2.0)
    assert out["utterance_loss"].item() == pytest.approx(16.0)
    out = Emotion2vecLoss(cls_weight=0.0)(pred, target, masked)
    assert out["utterance_loss"].item() == 0.0
    assert out["total"].item() == pytest.approx(2.0)
    # explicit utterance target
    u_t = torch.ones(2, 4)
    out = Emotion2vecLoss(cls_type="single")(
        pred, target, masked, token_out=torch.ones(2, 1, 4), u_target=u_t
    )
    assert out["utterance_loss"].item() == pytest.approx(0.0)


def test_emotion2vec_loss_no_masked_frames_is_finite():
    out = Emotion2vecLoss(cls_weight=0.0)(
        torch.ones(1, 3, 4),
        torch.zeros(1, 3, 4),
        torch.zeros(1, 3, dtype=torch.bool),
    )
    assert out["n_masked"].item() == 0
    assert out["total"].item() == 0.0


def test_mean_channel_std():
    x = torch.tensor([[[0.0, 1.0], [2.0, 1.0]]])
    assert mean_channel_std(x).item() == pytest.approx(
        (math.sqrt(2 + 1e-6) + math.sqrt(1e-6)) / 2
    )
