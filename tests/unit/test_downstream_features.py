"""Feature options, upstream wrappers and the on-disk feature cache."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from emotion2vec.audio import write_audio
from emotion2vec.downstream import features as features_module
from emotion2vec.downstream.features import CacheError, FeatureCache
from emotion2vec.model.featurize import FeatureOption
from emotion2vec.downstream.upstreams import (
    Emotion2vecUpstream,
    FbankUpstream,
    HFUpstream,
    build_upstream,
    state_digest,
)
from emotion2vec.model import Emotion2vecModel
from tests.conftest import tiny_config


@pytest.fixture
def upstream():
    torch.manual_seed(0)
    return Emotion2vecUpstream(model=Emotion2vecModel(tiny_config(depth=3)))  # 4 blocks


@pytest.fixture
def rows(tmp_path):
    torch.manual_seed(1)
    out = []
    for i, seconds in enumerate([0.5, 0.9, 0.3, 0.7, 0.45]):
        path = tmp_path / "wav" / f"u{i}.wav"
        write_audio(path, 0.1 * torch.randn(int(seconds * 16000)))
        out.append({"ID": f"u{i}", "wav": str(path), "duration": f"{seconds:.5f}", "label": "a"})
    return out


def _direct(up, wav, option):
    """Head input of one unpadded utterance, straight from the upstream."""
    out = up(wav.unsqueeze(0), layers=option.layers_for(up.num_blocks))
    if option.name == "utt":
        return out.tokens.mean(1)[0:1]
    if option.name == "weighted":  # every block, block-major per frame
        return torch.cat(out.layers, dim=-1)[0]
    frames = out.frames[0] if option.layers is None else torch.stack(out.layers).mean(0)[0]
    if option.name == "utt+frm":
        utt = out.tokens.mean(1).expand(frames.shape[0], -1)
        return torch.cat([frames, utt], dim=1)
    return frames


@pytest.mark.parametrize("feature", ["frm", "utt", "utt+frm", "layer:1", "layer:-1", "last4", "weighted"])
def test_cached_features_equal_direct_extraction(tmp_path, upstream, rows, feature):
    from emotion2vec.audio import read_audio

    cache = FeatureCache(tmp_path / "cache", upstream, feature, rows, batch_seconds=2.0,
                         progress=False)
    cache.build()
    store = cache.open()
    option = FeatureOption.parse(feature)
    assert store.input_dim == option.input_dim(32) == (64 if feature == "utt+frm" else 32)
    if feature == "weighted":  # all 4 blocks stored; the head proper still gets D
        assert store.num_stacked == 4 and store.stacked_blocks == [0, 1, 2, 3]
        assert store.block_names == ["prenet.0", "blocks.0", "blocks.1", "blocks.2"]
        assert store.get(rows[0]["ID"]).shape[1] == 4 * 32
    for row in rows:
        expected = _direct(upstream, read_audio(row["wav"]), option).numpy()
        got = store.get(row["ID"])
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_options_and_upstream_checks():
    assert FeatureOption.parse("layer:-1").slug == "layer-1"
    assert FeatureOption.parse("frm+utt").name == "utt+frm"
    with pytest.raises(ValueError, match="needs utterance tokens"):
        FeatureOption.parse("utt").check(FbankUpstream(n_mels=8))
    with pytest.raises(ValueError, match="out of range"):
        FeatureOption.parse("last4").check(FbankUpstream(n_mels=8))
    with pytest.raises(ValueError, match="'weighted' .* fbank upstream has 1; use frm"):
        FeatureOption.parse("weighted").check(FbankUpstream(n_mels=8))
    weighted = FeatureOption.parse(" Weighted ")
    assert weighted.weighted and weighted.slug == "weighted" and weighted.layers_for(3) == [0, 1, 2]
    assert not FeatureOption.parse("last4").weighted
    spec = weighted.head_spec({"type": "superb"}, 32, 4, ["a", "b"])
    assert (spec["input_dim"], spec["weighted_layers"]) == (32, 4)
    weighted.check_head_spec(spec, 4)
    with pytest.raises(ValueError, match="weights 4 blocks .* but the model has 5"):
        weighted.check_head_spec(spec, 5)
    with pytest.raises(ValueError, match="use feature 'weighted'"):
        FeatureOption.parse("frm").check_head_spec(spec, 4)
    with pytest.raises(ValueError, match="layers=option.layers_for"):  # blocks not asked for
        weighted.head_inputs(Emotion2vecUpstream(model=Emotion2vecModel(tiny_config()))(torch.randn(1, 8000)))
    with pytest.raises(ValueError, match="unknown upstream kind"):
        build_upstream("whisper")


def test_cache_key_follows_weights_option_dtype_and_manifest(tmp_path, upstream, rows):
    def key(up=upstream, feature="frm", dtype="float32", rows=rows):
        return FeatureCache(tmp_path, up, feature, rows, dtype=dtype, progress=False).path.name

    base = key()
    assert base.startswith("corpus-frm-emotion2vec-") and key() == base
    assert key(feature="layer:0") != base and key(dtype="float16") != base
    assert key(rows=rows[:-1]) != base
    assert key(rows=[dict(r, wav=r["wav"] + "x") if i == 0 else r for i, r in enumerate(rows)]) != base
    assert key(rows=[dict(r, label="other") for r in rows]) == base  # labels do not matter
    with torch.no_grad():
        upstream.model.encoder.alibi_scale.add_(1e-3)
    assert key() != base


def test_cache_is_reused_and_never_recomputed(tmp_path, upstream, rows, monkeypatch):
    cache = FeatureCache(tmp_path, upstream, "frm", rows, progress=False)
    cache.build()
    assert cache.is_complete()

    def fail(*args):
        raise AssertionError("recomputed a complete cache")

    monkeypatch.setattr(FeatureCache, "_extract", fail)
    again = FeatureCache(tmp_path, upstream, "frm", list(reversed(rows)), progress=False)
    assert again.build() == cache.path


@pytest.mark.parametrize("damage", ["no_meta", "truncated", "other_key", "leftover_tmp"])
def test_half_written_cache_is_redone(tmp_path, upstream, rows, damage, caplog):
    cache = FeatureCache(tmp_path, upstream, "frm", rows, progress=False)
    cache.build()
    reference = cache.open().get("u1")
    frames = cache.path / "frames.bin"
    if damage == "no_meta":
        (cache.path / "meta.json").unlink()
    elif damage == "truncated":
        frames.write_bytes(frames.read_bytes()[:-4])
    elif damage == "other_key":
        meta = json.loads((cache.path / "meta.json").read_text())
        (cache.path / "meta.json").write_text(json.dumps(dict(meta, key="0" * 64)))
    else:
        tmp = tmp_path / f".{cache.path.name}.tmp-999"
        tmp.mkdir()
        (tmp / "frames.bin").write_bytes(b"partial")
    if damage != "leftover_tmp":
        assert not cache.is_complete()
        with pytest.raises(CacheError):
            cache.open()
    cache.build()
    assert cache.is_complete()
    np.testing.assert_array_equal(cache.open().get("u1"), reference)
    assert not list(tmp_path.glob(".*.tmp-*"))


def test_interrupted_build_leaves_no_cache(tmp_path, upstream, rows, monkeypatch):
    cache = FeatureCache(tmp_path, upstream, "frm", rows, batch_seconds=1.0, progress=False)
    calls = {"n": 0}
    real = features_module.read_audio

    def interrupt(path, sr):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(path, sr)

    monkeypatch.setattr(features_module, "read_audio", interrupt)
    with pytest.raises(KeyboardInterrupt):
        cache.build()
    assert not cache.path.exists() and not cache.is_complete()
    assert not list(tmp_path.glob(".*"))  # the temporary folder is gone too


def test_weighted_cache_in_float16(tmp_path, upstream, rows):
    """Every block per frame: L times the frm cache; float16 halves it."""
    cache = FeatureCache(tmp_path, upstream, "weighted", rows, dtype="float16", progress=False)
    cache.build()
    store = cache.open()
    frames = sum(store.lengths.values())
    assert (cache.path / "frames.bin").stat().st_size == frames * 4 * 32 * 2
    assert cache.path.name.startswith("corpus-weighted-emotion2vec-")
    x = store.get("u2")
    assert x.dtype == np.float32 and x.shape == (store.lengths["u2"], 4 * 32)
    full = FeatureCache(tmp_path, upstream, "weighted", rows, progress=False)
    full.build()
    np.testing.assert_allclose(x, full.open().get("u2"), atol=2e-2, rtol=1e-2)
    meta = json.loads((cache.path / "meta.json").read_text())
    meta["stacked_blocks"] = [0, 1]  # the file no longer matches: damaged, recomputed
    (cache.path / "meta.json").write_text(json.dumps(meta))
    assert not cache.is_complete()


def test_float16_storage_and_pickling(tmp_path, upstream, rows):
    cache = FeatureCache(tmp_path, upstream, "utt+frm", rows, dtype="float16", progress=False)
    cache.build()
    store = cache.open()
    assert (cache.path / "frames.bin").stat().st_size == sum(store.lengths.values()) * 32 * 2
    x = store.get("u2")
    assert x.dtype == np.float32 and x.shape[1] == 64
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone.get("u2"), x)
    with pytest.raises(KeyError, match="not in the feature cache"):
        store.get("nope")


def test_unreadable_and_short_audio_are_named(tmp_path, upstream, rows):
    bad = [dict(rows[0], wav=str(tmp_path / "missing.wav"))]
    with pytest.raises(CacheError, match="missing.wav"):
        FeatureCache(tmp_path / "a", upstream, "frm", bad, progress=False).build()
    write_audio(tmp_path / "short.wav", torch.zeros(200))
    short = [dict(rows[0], ID="s", wav=str(tmp_path / "short.wav"), duration="0.0125")]
    with pytest.raises(CacheError, match="s .*short.wav.* 200 samples"):
        FeatureCache(tmp_path / "b", upstream, "frm", short, progress=False).build()
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_fbank_upstream_is_batch_invariant():
    up = FbankUpstream(n_mels=20)
    wavs = torch.randn(2, 8000)
    wavs[1, 5000:] = 0.0
    out = up(wavs, torch.tensor([1.0, 5000 / 8000]))
    single = up(wavs[1:, :5000])
    n = int(out.frame_lens[1])
    assert torch.allclose(out.frames[1, :n], single.frames[0], atol=1e-5)
    assert out.frames[1, n:].abs().sum() == 0


def test_upstream_identity(tmp_path):
    from emotion2vec.model_folder import save_model_folder

    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config())
    save_model_folder(tmp_path / "m", model.config, model.state_dict())
    from_dir = Emotion2vecUpstream(model_dir=tmp_path / "m")
    in_memory = Emotion2vecUpstream(model=model)
    assert from_dir.identity() == in_memory.identity()
    assert from_dir.describe() == "m" and from_dir.num_blocks == 3
    assert state_digest(from_dir) != state_digest(Emotion2vecUpstream(model=Emotion2vecModel(tiny_config())))
    with pytest.raises(FileNotFoundError, match="not a local folder"):
        HFUpstream(tmp_path / "no_such_folder")


def test_hf_upstream_from_a_local_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    )
    torch.manual_seed(0)
    transformers.Wav2Vec2Model(config).save_pretrained(tmp_path / "w2v")
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(tmp_path / "w2v")
    up = build_upstream("hf", tmp_path / "w2v")
    wavs = torch.randn(2, 16000)
    out = up(wavs, torch.tensor([1.0, 0.5]), layers=[0, -1])
    assert out.frames.shape == (2, 49, 32) and out.frame_lens.tolist() == [49, 24]
    assert torch.equal(out.layers[1], out.frames) and not up.has_tokens
    single = up(wavs[1:, :8000])
    assert torch.allclose(out.frames[1, :24], single.frames[0], atol=1e-5)
    assert up.identity()["config"]["hf_config"]["model_type"] == "wav2vec2"
    assert up.block_names() == ["layers.0", "layers.1"]
    weighted = FeatureOption.parse("weighted")
    weighted.check(up)
    x, _ = weighted.head_inputs(up(wavs, torch.tensor([1.0, 0.5]), layers=weighted.layers_for(up.num_blocks)))
    assert x.shape == (2, 49, 2 * 32) and torch.allclose(x[..., 32:], out.frames, atol=1e-6)


@pytest.mark.parametrize("name", ["frm", "utt", "utt+frm", "layer:0", "last4", "weighted"])
def test_inference_head_inputs_equal_the_cached_training_inputs(name):
    """One definition of each feature option for training and inference."""
    from emotion2vec.model import Emotion2vecModel
    from tests.conftest import tiny_config

    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config(depth=3)).eval()
    option = FeatureOption.parse(name)
    wavs = torch.randn(2, 9000)
    with torch.no_grad():
        out = model.extract_features(wavs, torch.tensor([1.0, 0.6]),
                                     layers=option.layers_for(model.config.num_blocks))
    x, lengths = option.head_inputs(out)
    streams = option.batch_streams(out)
    for b in range(2):
        expected = option.assemble({k: v[b].numpy() for k, v in streams.items()})
        n = int(lengths[b])
        assert n == expected.shape[0]
        assert np.allclose(x[b, :n].numpy(), expected, atol=1e-6)
        assert torch.all(x[b, n:] == 0)
