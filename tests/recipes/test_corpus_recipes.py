"""The corpus recipes, run on tiny fake corpora in their real layouts.

Three recipes run end to end as a user runs them (``train.py`` as a
subprocess, the paper's hparams file, a tiny upstream, one or two folds):
MELD (MP4 clips, the official split), SAVEE (random 10-fold) and RESD
(Hugging Face parquet, the official split with 10 % of train validating).
Every other recipe file runs in-process through the same entry point
(``emotion2vec.downstream.recipe.main``): it prepares its fake corpus,
builds the corpus's registered folds for the file's protocol and trains
and evaluates one fold for one epoch. Both check that the folds run are
the registered protocol's, built from the prepared manifest.
"""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emotion2vec.corpora import corpus_info
from emotion2vec.corpora.manifest import read_manifest
from emotion2vec.downstream.folds import make_folds
from emotion2vec.downstream.recipe import main
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model_folder import save_model_folder
from tests.conftest import tiny_config
from tests.fakes.resd import make_fake_resd_parquet

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--number_of_epochs=1", "--batch_size=8", "--device=cpu", "--noprogressbar", "--plots=False"]


@pytest.fixture(scope="module")
def tiny_upstream(tmp_path_factory):
    """One tiny emotion2vec model folder for every recipe of this file."""
    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config())
    folder = tmp_path_factory.mktemp("corpus_recipes") / "tiny_emotion2vec"
    save_model_folder(folder, model.config, model.state_dict())
    return folder


def _fake(corpus: str, root: Path):
    """Writes the fake corpus ``tests/fakes/<corpus>.py`` under ``root``."""
    module = importlib.import_module(f"tests.fakes.{corpus}")
    return getattr(module, f"make_fake_{corpus}")(root)


def _check_run(out: Path, corpus: str, protocol: str, fold_names, manifest: Path) -> dict:
    """The run's results and splits are the registered protocol's folds of the manifest."""
    info = corpus_info(corpus)
    results = json.loads((out / "results.json").read_text())
    assert results["labels"] == list(info.labels)
    assert [f["fold"] for f in results["folds"]] == list(fold_names)
    expected = {f.name: f for f in make_folds(protocol, read_manifest(manifest),
                                              **info.fold_options(protocol))}
    for name in fold_names:
        split = json.loads((out / "folds" / name / "split.json").read_text())
        fold = expected[name]
        assert split == {"train": list(fold.train_ids), "valid": list(fold.valid_ids),
                         "test": list(fold.test_ids)}
    assert (out / "hyperparams.yaml").is_file() and (out / "results.md").is_file()
    return results


def _train(recipe: str, hparams: str, data_folder: Path, upstream: Path, results_root: Path, folds):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [
        sys.executable, "train.py", f"hparams/{hparams}", f"--data_folder={data_folder}",
        f"--upstream_source={upstream}", f"--results_root={results_root}",
        f"--run_folds=[{', '.join(folds)}]", *FAST,
    ]
    done = subprocess.run(command, cwd=ROOT / recipe, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = results_root / Path(hparams).stem / "seed42"
    assert (out / "train.py").is_file()  # the recipe's script, copied as SpeechBrain does
    return out


def test_meld_official_split_end_to_end(tmp_path, tiny_upstream):
    pytest.importorskip("av", reason="PyAV writes and decodes the fake MELD clips ('emotion2vec[meld]')")
    fake = _fake("meld", tmp_path / "download")
    results_root = tmp_path / "results"
    out = _train("recipes/MELD/emotion_recognition", "emotion2vec_official.yaml", fake.src_dir,
                 tiny_upstream, results_root, ["predefined"])
    manifest = results_root / "data" / "meld.csv"
    _check_run(out, "meld", "predefined", ["predefined"], manifest)
    split = json.loads((out / "folds" / "predefined" / "split.json").read_text())
    assert sorted(split["test"]) == sorted(u for u in fake.rows if u.startswith("test/"))
    assert sorted(split["valid"]) == sorted(u for u in fake.rows if u.startswith("dev/"))
    predictions = (out / "folds" / "predefined" / "predictions.csv").read_text().splitlines()
    assert len(predictions) == 1 + len(split["test"])


def test_savee_random_10fold_end_to_end(tmp_path, tiny_upstream):
    fake = _fake("savee", tmp_path / "download")
    results_root = tmp_path / "results"
    out = _train("recipes/SAVEE/emotion_recognition", "emotion2vec_10fold.yaml", fake.src_dir,
                 tiny_upstream, results_root, ["fold01", "fold02"])
    _check_run(out, "savee", "random_kfold", ["fold01", "fold02"], results_root / "data" / "savee.csv")
    split = json.loads((out / "folds" / "fold01" / "split.json").read_text())
    assert sum(len(ids) for ids in split.values()) == len(fake.rows)  # 80 / 10 / 10 of every row


def test_resd_parquet_official_split_end_to_end(tmp_path, tiny_upstream):
    pytest.importorskip("pyarrow", reason="RESD's parquet form needs pyarrow ('emotion2vec[resd]')")
    results_root = tmp_path / "results"
    fake = make_fake_resd_parquet(tmp_path / "download", results_root / "data")
    out = _train("recipes/RESD/emotion_recognition", "emotion2vec_official.yaml", fake.src_dir,
                 tiny_upstream, results_root, ["predefined"])
    _check_run(out, "resd", "predefined", ["predefined"], results_root / "data" / "resd.csv")
    split = json.loads((out / "folds" / "predefined" / "split.json").read_text())
    splits = {u: row["split"] for u, row in fake.rows.items()}
    assert sorted(split["test"]) == sorted(u for u, s in splits.items() if s == "test")
    assert sorted(split["train"] + split["valid"]) == sorted(u for u, s in splits.items() if s == "train")
    assert len(split["valid"]) == 1  # 10 % of the fake's 10 training rows


# recipe folder, hparams file, fake corpus, registered protocol the file runs, the fold run
IN_PROCESS = [
    ("recipes/RAVDESS/song_emotion_recognition", "emotion2vec_5fold.yaml", "ravdess_song", "random_kfold", "fold01"),
    ("recipes/SAVEE/emotion_recognition", "emotion2vec_emobox.yaml", "savee", "loso_speaker", "speaker_DC"),
    ("recipes/EmoDB/emotion_recognition", "emotion2vec_10fold.yaml", "emodb", "random_kfold", "fold01"),
    ("recipes/EMOVO/emotion_recognition", "emotion2vec_10fold.yaml", "emovo", "random_kfold", "fold01"),
    ("recipes/EMOVO/emotion_recognition", "emotion2vec_emobox.yaml", "emovo", "loso_speaker", "speaker_m3"),
    ("recipes/CaFE/emotion_recognition", "emotion2vec_10fold.yaml", "cafe", "random_kfold", "fold01"),
    ("recipes/CaFE/emotion_recognition", "emotion2vec_emobox.yaml", "cafe", "fixed_folds", "fold02"),
    ("recipes/SUBESCO/emotion_recognition", "emotion2vec_10fold.yaml", "subesco", "random_kfold", "fold01"),
    ("recipes/SUBESCO/emotion_recognition", "emotion2vec_emobox.yaml", "subesco", "fixed_folds", "fold05"),
    ("recipes/ShEMO/emotion_recognition", "emotion2vec_10fold.yaml", "shemo", "random_kfold", "fold01"),
    ("recipes/URDU/emotion_recognition", "emotion2vec_10fold.yaml", "urdu", "random_kfold", "fold01"),
    ("recipes/AESDD/emotion_recognition", "emotion2vec_10fold.yaml", "aesdd", "random_kfold", "fold01"),
    ("recipes/M3ED/emotion_recognition", "emotion2vec_10fold.yaml", "m3ed", "random_kfold", "fold01"),
    ("recipes/M3ED/emotion_recognition", "emotion2vec_official.yaml", "m3ed", "predefined", "predefined"),
]


@pytest.mark.parametrize(
    "recipe, hparams, corpus, protocol, fold", IN_PROCESS,
    ids=[f"{r.split('/')[1]}/{r.split('/')[2]}/{h}" for r, h, *_ in IN_PROCESS],
)
def test_recipe_prepares_its_fake_and_runs_one_fold(
    recipe, hparams, corpus, protocol, fold, tmp_path, tiny_upstream
):
    fake = _fake(corpus, tmp_path / "download")
    results_root = tmp_path / "results"
    summary = main([
        str(ROOT / recipe / "hparams" / hparams), f"--data_folder={fake.src_dir}",
        f"--upstream_source={tiny_upstream}", f"--results_root={results_root}",
        f"--run_folds=[{fold}]", *FAST,
    ])
    manifest = results_root / "data" / f"{corpus}.csv"
    assert sorted(row["ID"] for row in read_manifest(manifest)) == sorted(fake.rows)
    out = results_root / Path(hparams).stem / "seed42"
    results = _check_run(out, corpus, protocol, [fold], manifest)
    assert [f["fold"] for f in summary["folds"]] == [f["fold"] for f in results["folds"]]
