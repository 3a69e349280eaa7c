"""Layering rules of the package, checked on every module's imports (``ast``).

- ``emotion2vec.audio`` imports nothing else of the package (the one place
  audio enters; anything may use it);
- ``emotion2vec.model`` imports only ``emotion2vec.model`` (the model runs
  what it is given);
- ``emotion2vec.inference`` never imports ``emotion2vec.downstream`` or
  ``emotion2vec.pretrain``;
- no private name (``_name``) is imported across a module boundary, nor
  bound to a private alias, nor read as ``module._name`` from a package
  module;
- the sample rate (16000) is written once, as ``emotion2vec.audio.io.SAMPLE_RATE``.

Imports inside functions count too.
"""

import ast
import importlib
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "emotion2vec"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module name of a ``from ... import`` (relative ones too)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str):
    """``(imported module, name or None, alias, line)`` for every import of the package."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "emotion2vec":
                    yield alias.name, None, alias.asname, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            if target.split(".")[0] == "emotion2vec":
                for alias in node.names:
                    yield target, alias.name, alias.asname, node.lineno


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _targets(target: str, name):
    """Modules an import reaches: ``from a.b import c`` may name module ``a.b.c``."""
    found = [target]
    if name is not None and f"{target}.{name}" in MODULES:
        found.append(f"{target}.{name}")
    return found


def _violations(package: str, allowed) -> list:
    bad = []
    for module in MODULES:
        if not _within(module, package):
            continue
        for target, name, _, line in _imports(module):
            for reached in _targets(target, name):
                if not allowed(reached):
                    bad.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {reached}")
    return sorted(set(bad))


def test_modules_are_found():
    assert {"emotion2vec.audio.io", "emotion2vec.model.emotion2vec",
            "emotion2vec.inference.classifier", "emotion2vec.checkpoints.sources"} <= set(MODULES)


def test_audio_imports_nothing_else_of_the_package():
    assert _violations("emotion2vec.audio", lambda m: _within(m, "emotion2vec.audio")) == []


def test_model_imports_only_itself():
    assert _violations("emotion2vec.model", lambda m: _within(m, "emotion2vec.model")) == []


def test_inference_never_imports_downstream_or_pretrain():
    forbidden = ("emotion2vec.downstream", "emotion2vec.pretrain")
    assert _violations(
        "emotion2vec.inference", lambda m: not any(_within(m, f) for f in forbidden)
    ) == []


def _private(name) -> bool:
    return bool(name) and name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_crosses_a_module_boundary():
    bad = []
    for module, path in MODULES.items():
        where = path.relative_to(PACKAGE.parent)
        package_modules = set()  # local names bound to package modules
        for target, name, asname, line in _imports(module):
            if _private(name):
                bad.append(f"{where}:{line} imports private {target}.{name}")
            if _private(asname):
                bad.append(f"{where}:{line} binds {target}.{name or ''} to private alias {asname}")
            if name is None:
                package_modules.add(asname or target.split(".")[0])
            elif f"{target}.{name}" in MODULES:
                package_modules.add(asname or name)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                base = node.value
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and base.id in package_modules:
                    bad.append(f"{where}:{node.lineno} reads {ast.unparse(node)}")
    assert sorted(bad) == []


def test_the_sample_rate_is_written_once():
    found = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == 16000:
                found.append(f"{module}:{node.lineno}")
    assert found == [f"emotion2vec.audio.io:{_line_of('emotion2vec.audio.io', 'SAMPLE_RATE')}"]


def _line_of(module: str, name: str) -> int:
    for node in ast.parse(MODULES[module].read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return node.lineno
    raise AssertionError(f"{module} does not assign {name}")


@pytest.mark.parametrize("package", ["emotion2vec.inference", "emotion2vec.checkpoints"])
def test_package_reexports_resolve(package):
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_the_rules_catch_a_violation(tmp_path, monkeypatch):
    """The checker itself: a model module importing audio, a private import."""
    fake = tmp_path / "emotion2vec"
    (fake / "model").mkdir(parents=True)
    (fake / "model" / "bad.py").write_text(
        "from emotion2vec.audio.io import SAMPLE_RATE\nfrom emotion2vec.fileutils import _x\n"
        "from . import _y\n"
    )
    (fake / "fileutils.py").write_text("_x = 1\n")
    modules = {_module_name_in(fake, p): p for p in fake.rglob("*.py")}
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "MODULES", modules)
    monkeypatch.setattr(this, "PACKAGE", fake)
    assert _violations("emotion2vec.model", lambda m: _within(m, "emotion2vec.model")) == [
        "emotion2vec/model/bad.py:1 imports emotion2vec.audio.io",
        "emotion2vec/model/bad.py:2 imports emotion2vec.fileutils",
    ]
    with pytest.raises(AssertionError, match="private"):
        test_no_private_name_crosses_a_module_boundary()


def _module_name_in(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
