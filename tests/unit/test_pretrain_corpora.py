"""Emo-262 in one command: the listed corpora prepared from their fake
downloads into one pre-training manifest, missing ones named, the hours
table beside Table 1."""

import pytest

from emotion2vec.corpora import prepare_corpus
from emotion2vec.corpora.manifest import read_manifest
from emotion2vec.pretrain.corpora import (
    EMO262,
    MissingCorpusError,
    check_pretrain_corpora,
    hours_table,
    prepare_pretrain_corpora,
)
from emotion2vec.pretrain.manifest import build_pretrain_manifest
from emotion2vec.recipe_hparams import load_recipe_hparams
from tests.fakes.cmu import MOSEI_OUTSIDE, make_fake_mosei
from tests.fakes.iemocap import make_fake_iemocap
from tests.fakes.msp_podcast import make_fake_msp_podcast

EMO262_YAML = "recipes/pretrain/hparams/emo262.yaml"


def test_missing_corpora_are_all_named(tmp_path):
    (tmp_path / "MELD.Raw").mkdir()
    with pytest.raises(MissingCorpusError) as error:
        check_pretrain_corpora(EMO262, {"iemocap": tmp_path / "nope", "meld": tmp_path / "MELD.Raw",
                                        "mead": None, "mosei": tmp_path / "x"})
    text = str(error.value)
    assert "iemocap: folder" in text and "msp_podcast: no folder given" in text
    named = [line.split(":")[0].strip(" -") for line in text.splitlines() if line.startswith("  - ")]
    assert sorted(named) == sorted(["iemocap", "mosei", "msp_podcast"])  # meld found, mead dropped
    assert "--pretrain_corpora" in text and "_folder=null" in text


def test_emo262_hparams_list_the_five_and_every_folder_is_an_override(tmp_path):
    hparams = load_recipe_hparams(EMO262_YAML, {
        "data_folder": str(tmp_path), "init_from": None, "mead_folder": None,
        "pretrain_corpora": ["iemocap", "meld"]})
    assert hparams["pretrain_corpora"] == ["iemocap", "meld"]
    assert hparams["iemocap_folder"] == f"{tmp_path}/IEMOCAP_full_release"
    assert hparams["mead_folder"] is None and hparams["min_duration"] is None
    full = load_recipe_hparams(EMO262_YAML, {"data_folder": str(tmp_path), "init_from": None})
    assert full["pretrain_corpora"] == list(EMO262)
    assert full["pretrain_corpus_options"]["iemocap"] == {"keep_all_utterances": False}
    every = load_recipe_hparams(EMO262_YAML, {"data_folder": str(tmp_path), "init_from": None,
                                              "iemocap_all_utterances": True})
    assert every["pretrain_corpus_options"]["iemocap"] == {"keep_all_utterances": True}


def test_iemocap_keep_all_utterances_keeps_every_code(tmp_path):
    fake = make_fake_iemocap(tmp_path / "iemocap")
    four = read_manifest(prepare_corpus("iemocap", fake.src_dir, tmp_path / "four"))
    every = read_manifest(prepare_corpus("iemocap", fake.src_dir, tmp_path / "all",
                                         keep_all_utterances=True))
    assert {r["label"] for r in four} <= {"neu", "hap", "ang", "sad"}
    assert {"fru", "xxx"} <= {r["label"] for r in every}
    assert {r["ID"] for r in four} < {r["ID"] for r in every}


def test_prepared_corpora_and_folders_make_one_manifest_and_an_hours_table(tmp_path):
    names = ["iemocap", "mosei", "msp_podcast", "meld"]
    folders = {"iemocap": make_fake_iemocap(tmp_path / "IEMOCAP").src_dir,
               "mosei": make_fake_mosei(tmp_path / "MOSEI").src_dir,
               "msp_podcast": make_fake_msp_podcast(tmp_path / "MSP").src_dir,
               "meld": None}  # dropped
    manifests = prepare_pretrain_corpora(names, folders, tmp_path / "corpora")
    assert list(manifests) == ["iemocap", "mosei", "msp_podcast"]
    assert manifests["mosei"].parent.name == "mosei+include_unlabelled"
    mosei_rows = read_manifest(manifests["mosei"])
    assert MOSEI_OUTSIDE in {r["ID"] for r in mosei_rows}  # a segment without a label
    table = hours_table(manifests, 0.5)
    assert "| iemocap |" in table and "| 5,531 | 7.0 |" in table and "**total**" in table
    msp = [line for line in table.splitlines() if line.startswith("| msp_podcast")][0]
    assert "| 4 |" in msp and "| 3 (" in msp and "| 1 (" in msp  # 0.4 s dropped
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "x.wav").write_bytes(
        (folders["msp_podcast"] / "MSP-Podcast/Audios/MSP-PODCAST_0004_0003.wav").read_bytes())
    summary = build_pretrain_manifest([*manifests.values(), extra], tmp_path / "train.csv",
                                      min_duration=0.5)
    iemocap_rows = len(read_manifest(manifests["iemocap"]))
    mosei_short = sum(float(r["duration"]) < 0.5 for r in mosei_rows)
    assert mosei_short == 4
    assert summary["filtered_short"] == 1 + mosei_short
    assert summary["count"] == iemocap_rows + len(mosei_rows) - mosei_short + 3 + 1


def test_other_options_prepare_beside_not_over(tmp_path):
    """Table 1's IEMOCAP (4 classes) and --iemocap_all_utterances sit side by
    side in corpora_folder; a default given explicitly is the default folder."""
    fake = make_fake_iemocap(tmp_path / "IEMOCAP")
    folders = {"iemocap": fake.src_dir}
    four = prepare_pretrain_corpora(["iemocap"], folders, tmp_path / "corpora")["iemocap"]
    again = prepare_pretrain_corpora(["iemocap"], folders, tmp_path / "corpora",
                                     {"iemocap": {"keep_all_utterances": False}})["iemocap"]
    every = prepare_pretrain_corpora(["iemocap"], folders, tmp_path / "corpora",
                                     {"iemocap": {"keep_all_utterances": True}})["iemocap"]
    assert four == again and four.parent.name == "iemocap"
    assert every.parent.name == "iemocap+keep_all_utterances"
    assert len(read_manifest(every)) > len(read_manifest(four)) == 60
