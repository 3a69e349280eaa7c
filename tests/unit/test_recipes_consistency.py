"""The house is consistent: every recipe, hparams file and corpus has its tests.

* every hparams file of every recipe loads (placeholders filled with dummy
  paths);
* every top-level key it defines is used: referenced by another key of the
  same file, or read by name by the package, a recipe script or SpeechBrain;
* every recipe folder (a folder with a ``train.py``) has a README.md and is
  run by a test under ``tests/recipes``;
* every corpus in the registry (``emotion2vec.corpora.CORPORA``) has a test
  that prepares it from a fake layout.
"""

import re
from pathlib import Path

import pytest
import yaml
from hyperpyyaml import load_hyperpyyaml

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
    """A dummy path for every ``!PLACEHOLDER`` key (a tiny model for ``upstream_source``)."""
    text = path.read_text()
    overrides = {}
    for key in re.findall(r"^([A-Za-z_]\w*)\s*:\s*!PLACEHOLDER", text, flags=re.M):
        overrides[key] = str(model_folder if key == "upstream_source" else tmp_path / key)
    return overrides


@pytest.mark.parametrize("path", HPARAMS_FILES, ids=_relative)
def test_hparams_file_loads(path, tmp_path, tiny_model_folder):
    overrides = _dummy_overrides(path, tmp_path, tiny_model_folder)
    with open(path) as stream:
        hparams = load_hyperpyyaml(stream, overrides)
    assert isinstance(hparams, dict) and hparams


@pytest.mark.parametrize("path", HPARAMS_FILES + [ROOT / "hparams" / "downstream_frozen.yaml"], ids=_relative)
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
