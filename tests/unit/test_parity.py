"""Numerical parity with the official implementation.

``tests/fixtures/parity_small`` was written by FunASR's emotion2vec code
(``tests/fixtures/make_parity_fixture.py``): the same seeded weights in all
four official on-disk layouts, two inputs and every intermediate tensor.
Every array must be reproduced within ``1e-4 * max(1, max|ref|)``.
"""

import json

import numpy as np
import pytest
import torch

from emotion2vec.checkpoints import read_official_checkpoint
from emotion2vec.model import Emotion2vecModel
from tests.parity import FIXTURE, assert_close, ref

LAYOUTS = [
    "fairseq/emotion2vec_base.pt",
    "modelscope_base",
    "modelscope_plus",
    "plain_state_dict.pt",
]


@pytest.fixture(scope="module")
def manifest():
    return json.loads((FIXTURE / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model():
    checkpoint = read_official_checkpoint(FIXTURE / "ckpt" / "modelscope_plus")
    plain = read_official_checkpoint(FIXTURE / "ckpt" / "plain_state_dict.pt")
    model = Emotion2vecModel(plain.config)
    model.load_state_dict(plain.state_dict)
    model.labels = checkpoint.labels
    return model.eval()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_gives_the_same_weights(layout, model):
    checkpoint = read_official_checkpoint(FIXTURE / "ckpt" / layout)
    reference = model.state_dict()
    for key, value in checkpoint.state_dict.items():
        assert torch.equal(value, reference[key]), key
    expected_keys = {k for k in reference if checkpoint.config.build_decoder or not k.startswith("decoder.")}
    if not checkpoint.config.num_labels:
        expected_keys = {k for k in expected_keys if not k.startswith("head.")}
    assert set(checkpoint.state_dict) == expected_keys


def test_config_read_from_checkpoint(manifest, model):
    conf = manifest["model_conf"]
    assert model.config.embed_dim == conf["embed_dim"]
    assert model.config.num_heads == conf["num_heads"]
    assert model.config.depth == conf["depth"]
    assert model.config.prenet_depth == conf["modalities"]["audio"]["prenet_depth"]
    assert model.labels == manifest["labels"]


@pytest.mark.parametrize("key", ["a", "b"])
def test_intermediates_match_official(key, model):
    wav = torch.from_numpy(ref(f"wav_{key}.npy")).unsqueeze(0)
    lengths = torch.tensor([wav.shape[1]])
    P = model.config.prenet_depth
    with torch.no_grad():
        x = model.normalize_waveforms(wav, lengths)
        assert_close(f"{key}_normalized_input.npy", x[0])
        cnn, _ = model.feature_extractor(x, lengths)
        assert_close(f"{key}_cnn_out.npy", cnn[0])
        projected, _, _ = model.local_features(x, lengths)
        assert_close(f"{key}_projected.npy", projected[0])
        assert_close(f"{key}_pos_conv.npy", model.encoder.positional_conv(projected)[0])
        tokens_and_frames, _ = model.encoder.embed(projected)
        assert_close(f"{key}_prenet_in.npy", tokens_and_frames[0])
        enc = model.encoder(projected, return_block_outputs=True, return_ffn_outputs=True)
        assert_close(f"{key}_prenet_block_out.npy", torch.stack(enc.block_outputs[:P])[:, 0])
        assert_close(f"{key}_prenet_out.npy", enc.block_outputs[P - 1][0])
        assert_close(f"{key}_block_out.npy", torch.stack(enc.block_outputs[P:])[:, 0])
        assert_close(f"{key}_block_ffn_out.npy", torch.stack(enc.ffn_outputs)[:, 0])
        assert_close(f"{key}_final_with_extra.npy", enc.hidden[0])


@pytest.mark.parametrize("key", ["a", "b"])
def test_features_logits_and_scores_match_official(key, model):
    wav = torch.from_numpy(ref(f"wav_{key}.npy")).unsqueeze(0)
    with torch.no_grad():
        out = model.extract_features(wav)
    assert_close(f"{key}_frame_feats.npy", out.frames[0])
    assert_close(f"{key}_utt_feats.npy", out.utterance[0])
    assert_close(f"{key}_extra_token_out.npy", out.tokens[0])
    assert_close(f"{key}_logits.npy", out.logits[0])
    masked = out.logits[0].masked_fill(
        torch.tensor([label.startswith("unuse") for label in model.labels]), float("-inf")
    )
    assert_close(f"{key}_scores.npy", masked.softmax(-1))


def test_padded_batch_equals_per_utterance_references(model):
    a = torch.from_numpy(ref("wav_a.npy"))
    b = torch.from_numpy(ref("wav_b.npy"))
    batch = torch.zeros(2, len(a))
    batch[0], batch[1, : len(b)] = a, b
    with torch.no_grad():
        out = model.extract_features(batch, torch.tensor([1.0, len(b) / len(a)]))
    Tb = ref("b_frame_feats.npy").shape[0]
    assert out.frame_lens.tolist() == [ref("a_frame_feats.npy").shape[0], Tb]
    assert_close("a_frame_feats.npy", out.frames[0])
    assert_close("b_frame_feats.npy", out.frames[1, :Tb])
    assert_close("a_utt_feats.npy", out.utterance[0])
    assert_close("b_utt_feats.npy", out.utterance[1])
    assert_close("b_logits.npy", out.logits[1])
    # the official padded batch differs for the shorter item: ours must not
    official = ref("batch_ab_padded_frame_feats.npy")[1, :Tb]
    assert np.abs(official - ref("b_frame_feats.npy")).max() > 1e-3
