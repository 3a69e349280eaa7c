"""The house is consistent: every recipe, hparams file and corpus has its tests.

* every hparams file of every recipe loads (placeholders filled with dummy
  paths), following its ``extends`` chain;
* every top-level key a full recipe defines is used: referenced by another
  key of the same file, or read by name by the package, a recipe script or
  SpeechBrain; a variant only sets keys of its full recipe (the loader
  enforces it) and never restates a value it inherits, nor a corpus fact
  (labels) that the corpus registration holds;
* every recipe folder (a folder with a ``train.py``) has a README.md and is
  run by a test under ``tests/recipes``;
* every corpus in the registry (``emotion2vec.corpora.CORPORA``) has a test
  that prepares it from a fake layout.
"""

import re
from pathlib import Path

import pytest
import yaml

from emotion2vec.recipe_hparams import EXTENDS_KEY, RecipeKeyError, extends_chain, load_recipe_hparams, recipe_keys

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
HPARAMS_FILES = sorted(RECIPES.glob("*/hparams/*.yaml")) + sorted(RECIPES.glob("*/*/hparams/*.yaml"))
RECIPE_FOLDERS = sorted(p.parent for p in RECIPES.rglob("train.py"))

# Keys defined but not read by name anywhere (found by this test). Each is
# reported to the hparams owner; remove an entry once its file is fixed.
KNOWN_UNUSED_KEYS = {
}

# Recipe folders without a README.md yet (none today).
KNOWN_MISSING_README = set()

# Read by name through SpeechBrain itself (Brain run options, checkpointing).
SPEECHBRAIN_KEYS = {"checkpointer", "epoch_counter", "train_logger"}


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _top_level_keys(path: Path) -> list:
    """Top-level keys, read textually (tags such as !new: need no loading)."""
    return re.findall(r"^([A-Za-z_]\w*)\s*:", path.read_text(), flags=re.M)


def _names_read_by_code() -> set:
    """Every name read from hparams in the package and the recipe scripts."""
    patterns = [
        r"(?:hparams|settings)\[\s*[\"'](\w+)[\"']\s*\]",
        r"hparams\.get\(\s*[\"'](\w+)[\"']",
        r"hparams\.(\w+)",
        r"getattr\(\s*self\.hparams,\s*[\"'](\w+)[\"']",
        r"hasattr\(\s*self\.hparams,\s*[\"'](\w+)[\"']",
        r"[\"'](\w+)[\"']\s+in\s+(?:self\.)?hparams\b",
    ]
    names = set()
    for source in list((ROOT / "emotion2vec").rglob("*.py")) + list(RECIPES.rglob("*.py")):
        text = source.read_text()
        for pattern in patterns:
            names.update(re.findall(pattern, text))
    return names


def _speechbrain_run_options() -> set:
    from speechbrain.core import RunOptions

    return set(RunOptions().as_dict())


@pytest.fixture(scope="module")
def tiny_model_folder(tmp_path_factory):
    """A tiny emotion2vec model folder (recipes that build their upstream at load time)."""
    import torch

    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.model_folder import save_model_folder
    from tests.conftest import tiny_config

    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config())
    folder = tmp_path_factory.mktemp("consistency") / "tiny_emotion2vec"
    save_model_folder(folder, model.config, model.state_dict())
    return folder


def _dummy_overrides(path: Path, tmp_path: Path, model_folder: Path) -> dict:
    """A dummy path for every key still ``!PLACEHOLDER`` at the end of the chain
    (a tiny model for ``upstream_source``)."""
    overrides = {}
    for key, value in recipe_keys(path).items():
        if value.startswith("!PLACEHOLDER"):
            overrides[key] = str(model_folder if key == "upstream_source" else tmp_path / key)
    return overrides


def _is_variant(path: Path) -> bool:
    return len(extends_chain(path)) > 1


ROOT_FILES = [p for p in HPARAMS_FILES if not _is_variant(p)] + [ROOT / "hparams" / "downstream_frozen.yaml"]
VARIANTS = [p for p in HPARAMS_FILES if _is_variant(p)]


@pytest.mark.parametrize("path", HPARAMS_FILES, ids=_relative)
def test_hparams_file_loads(path, tmp_path, tiny_model_folder):
    overrides = _dummy_overrides(path, tmp_path, tiny_model_folder)
    hparams = load_recipe_hparams(path, overrides)
    assert isinstance(hparams, dict) and hparams
    assert EXTENDS_KEY not in hparams


@pytest.mark.parametrize("path", VARIANTS, ids=_relative)
def test_variant_is_thin(path):
    """A variant restates nothing it inherits and no corpus fact."""
    (_, own), *parents = extends_chain(path)
    inherited = recipe_keys(parents[0][0])
    keys = recipe_keys(path)
    restated = [k for k in own if not isinstance(own[k], dict) and inherited.get(k) == keys[k]]
    assert not restated, f"{_relative(path)} restates inherited values: {restated}"
    assert "labels" not in own, f"{_relative(path)}: labels belong to the corpus registration"


def test_a_misspelt_override_lists_the_recipe_keys():
    path = RECIPES / "RAVDESS" / "emotion_recognition" / "hparams" / "emotion2vec_10fold.yaml"
    with pytest.raises(RecipeKeyError) as error:
        load_recipe_hparams(path, "number_of_epoch: 3")
    text = str(error.value)
    assert "no key 'number_of_epoch'" in text and "did you mean number_of_epochs" in text
    assert "--batch_size" in text and "--upstream_source" in text


@pytest.mark.parametrize("path", ROOT_FILES, ids=_relative)
def test_every_key_is_used(path):
    text = path.read_text()
    read = _names_read_by_code() | _speechbrain_run_options() | SPEECHBRAIN_KEYS
    unused = []
    for key in _top_level_keys(path):
        if key.startswith("__"):  # evaluated for its side effect (e.g. __set_seed)
            continue
        referenced = re.search(rf"<{key}(?:[.\[][^>]*)?>", text) is not None
        if not referenced and key not in read:
            unused.append(key)
    known = KNOWN_UNUSED_KEYS.get(_relative(path), set())
    assert set(unused) <= known, f"{_relative(path)}: keys never used: {sorted(set(unused) - known)}"
    stale = known - set(unused)
    assert not stale, f"{_relative(path)}: KNOWN_UNUSED_KEYS lists used keys {sorted(stale)}"


@pytest.mark.parametrize("folder", RECIPE_FOLDERS, ids=_relative)
def test_recipe_folder_has_readme_and_a_recipe_test(folder):
    if _relative(folder) not in KNOWN_MISSING_README:
        assert (folder / "README.md").is_file(), f"{_relative(folder)} has no README.md"
    parts = folder.relative_to(RECIPES).parts
    slash = "/".join(("recipes",) + parts)
    tests = sorted((ROOT / "tests" / "recipes").glob("test_*.py"))
    referencing = [
        t for t in tests
        if slash in t.read_text() or all(f'"{part}"' in t.read_text() for part in parts)
    ]
    assert referencing, f"no test under tests/recipes runs {slash}"


def test_every_registered_corpus_has_a_fake_layout_test():
    from emotion2vec.corpora import CORPORA

    texts = [p.read_text() for p in (ROOT / "tests").rglob("test_*.py")]
    for name in sorted(CORPORA):
        calls = (f'prepare_corpus("{name}"', f"prepare_corpus('{name}'", f"prepare_{name}(")
        assert any(call in text for call in calls for text in texts), (
            f"corpus {name!r} is registered but no test prepares it from a fake layout"
        )


def test_yaml_parses_textually():
    """The textual key reader agrees with a YAML parser on plain files."""
    path = ROOT / "hparams" / "downstream_frozen.yaml"
    plain = yaml.safe_load(re.sub(r"!\S+", "", path.read_text()))
    assert set(_top_level_keys(path)) == set(plain)


def test_a_misspelt_key_inside_an_included_file_is_an_error_too():
    """HyperPyYAML drops unknown keys under an ``!include:`` node silently;
    the loader refuses them and lists the included file's keys."""
    path = RECIPES / "pretrain" / "hparams" / "emotion2vec_tiny.yaml"
    with pytest.raises(RecipeKeyError) as error:
        load_recipe_hparams(path, "arch: {encoder_dropout: 0.0}")
    text = str(error.value)
    assert "no key 'encoder_dropout'" in text and "--arch={key: value, ...}" in text
    assert "  config" in text
    hparams = load_recipe_hparams(path, {"data_folder": "/x", "arch": {"config": {"encoder_dropout": 0.0}}})
    assert hparams["model"].config.encoder_dropout == 0.0
