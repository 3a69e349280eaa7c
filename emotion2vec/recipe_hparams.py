"""Loading recipe hparams the SpeechBrain way, with thin variants.

Every recipe key is a top-level key, overridable on the command line::

    python train.py hparams/X.yaml --number_of_epochs=5 --batch_size=64

A recipe variant states only what differs from the recipe it extends::

    extends: ../../../../hparams/downstream_frozen.yaml  # relative to this file
    corpus: ravdess
    experiment: fbank_10fold
    upstream_kind: fbank

:func:`load_recipe_hparams` follows the ``extends`` chain to the full
recipe (the root), merges the variants' keys over it (nested mappings are
merged, as HyperPyYAML's overrides are), then the command line's, and only
then resolves references, so ``--seed=3`` also moves an ``output_folder``
defined as ``!ref <results_root>/seed<seed>``. Every key of a variant and
of the command line must exist in the root: a misspelt key is an error
that lists the recipe's keys (the recipe's ``--help``).

Authors
 * emotion2vec-sb contributors
"""

import difflib
import io
import os
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import ruamel.yaml
from hyperpyyaml import load_hyperpyyaml, resolve_references
from hyperpyyaml.core import recursive_update

PathLike = Union[str, os.PathLike]

EXTENDS_KEY = "extends"
"""The key naming the recipe a variant extends (a path relative to the variant)."""

MAX_CHAIN = 8


class RecipeKeyError(ValueError):
    """An hparams key that the recipe does not have (the message lists its keys)."""


def _yaml() -> ruamel.yaml.YAML:
    return ruamel.yaml.YAML()  # round-trip: keeps !ref, !new:, ... tags


def _load_tree(text: str, where: str):
    try:
        tree = _yaml().load(text)
    except ruamel.yaml.YAMLError as error:
        raise ValueError(f"{where}: not valid YAML: {error}".replace("\n", " ")) from None
    if tree is None:
        return ruamel.yaml.comments.CommentedMap()
    if not isinstance(tree, Mapping):
        raise ValueError(f"{where}: expected key: value pairs, got {type(tree).__name__}")
    return tree


def extends_chain(hparams_file: PathLike) -> List[Tuple[Path, Any]]:
    """The files of a recipe, from ``hparams_file`` to the full recipe.

    Arguments
    ---------
    hparams_file : str or path
        A full recipe or a variant (``extends: PATH``).

    Returns
    -------
    list of (Path, mapping)
        Each file with its keys (``extends`` removed); the last is the root.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "base.yaml").write_text("a: 1\\nb: 2\\n")
    >>> _ = (folder / "v.yaml").write_text("extends: base.yaml\\nb: 3\\n")
    >>> [(p.name, dict(t)) for p, t in extends_chain(folder / "v.yaml")]
    [('v.yaml', {'b': 3}), ('base.yaml', {'a': 1, 'b': 2})]
    """
    chain = []
    path = Path(hparams_file)
    while True:
        if not path.is_file():
            origin = f" (extended by {chain[-1][0]})" if chain else ""
            raise FileNotFoundError(f"hparams file {path} not found{origin}")
        tree = _load_tree(path.read_text(encoding="utf-8"), str(path))
        parent = tree.pop(EXTENDS_KEY, None)
        chain.append((path, tree))
        if parent is None:
            return chain
        if len(chain) >= MAX_CHAIN:
            raise ValueError(f"{hparams_file}: more than {MAX_CHAIN} files extend each other")
        path = (path.parent / str(parent)).resolve()


def _describe(value: Any) -> str:
    if isinstance(value, ruamel.yaml.comments.TaggedScalar):
        return f"{value.tag.value} {value.value}"
    tag = getattr(getattr(value, "tag", None), "value", None)
    if tag:
        return str(tag)
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in value.items()) + "}"
    return text if len(text) <= 60 else text[:57] + "..."


def recipe_keys(hparams_file: PathLike) -> Dict[str, str]:
    """Every key a recipe takes, with its value as the files set it.

    Arguments
    ---------
    hparams_file : str or path
        A full recipe or a variant.

    Returns
    -------
    dict
        key -> a short text of its value (the variants' values win).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "base.yaml").write_text("lr: 0.1\\nout: !ref r/<lr>\\n")
    >>> recipe_keys(folder / "base.yaml")
    {'lr': '0.1', 'out': '!ref r/<lr>'}
    """
    chain = extends_chain(hparams_file)
    keys: Dict[str, str] = {}
    for _, tree in reversed(chain):
        for key, value in tree.items():
            keys[str(key)] = _describe(value)
    return keys


def _key_error(
    hparams_file: PathLike, key: str, where: str, keys: Mapping[str, str], parent: str = ""
) -> RecipeKeyError:
    close = difflib.get_close_matches(key, list(keys), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    width = max(len(k) for k in keys) if keys else 0
    prefix = "" if parent else "--"
    listing = "\n".join(f"  {prefix}{k.ljust(width)}  {v}" for k, v in keys.items())
    usage = f"keys of --{parent}={{key: value, ...}}" if parent else "Keys of this recipe (--key=value)"
    return RecipeKeyError(
        f"{where}: {hparams_file} has no key {key!r}{hint}\n{usage[0].upper() + usage[1:]}:\n{listing}"
    )


def _check_included_keys(root: Path, node: Any, override: Any, where: str, parent: str) -> None:
    """Keys overriding an ``!include:FILE`` node must be keys of FILE.

    HyperPyYAML silently drops an override key that the included file does
    not define (``--arch={encoder_dropout: 0.0}`` when the key sits under
    ``config``), so this is checked here, with the included file's keys.
    """
    tag = getattr(getattr(node, "tag", None), "value", None) or ""
    if not tag.startswith("!include:") or not isinstance(override, Mapping):
        return
    included = (root.parent / tag[len("!include:"):]).resolve()
    if not included.is_file():
        return
    keys = recipe_keys(included)
    for key in override:
        if str(key) not in keys:
            raise _key_error(included, str(key), where, keys, parent)


def compose_overrides(hparams_file: PathLike, overrides: Union[str, Mapping, None] = None) -> Tuple[Path, str]:
    """The root recipe and the merged overrides (variants, then command line).

    Arguments
    ---------
    hparams_file : str or path
        A full recipe or a variant.
    overrides : str or mapping, optional
        Command-line overrides (YAML text, as ``speechbrain.parse_arguments``
        returns them, or a mapping).

    Returns
    -------
    root : Path
        The full recipe at the end of the ``extends`` chain.
    overrides : str
        YAML text of every override, tags kept, for ``load_hyperpyyaml``.

    Raises
    ------
    RecipeKeyError
        A variant or the command line sets a key the root does not have.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "base.yaml").write_text("a: 1\\nb: {x: 1, y: 2}\\n")
    >>> _ = (folder / "v.yaml").write_text("extends: base.yaml\\nb: {x: 5}\\n")
    >>> root, text = compose_overrides(folder / "v.yaml", "a: 7")
    >>> root.name, text.split()
    ('base.yaml', ['b:', '{x:', '5}', 'a:', '7'])
    """
    chain = extends_chain(hparams_file)
    root, root_tree = chain[-1]
    keys = None
    merged = ruamel.yaml.comments.CommentedMap()
    layers = [(str(path), tree) for path, tree in reversed(chain[:-1])]
    if overrides:
        cli = overrides if isinstance(overrides, Mapping) else _load_tree(overrides, "command line")
        layers.append(("command line", cli))
    for where, tree in layers:
        for key in tree:
            if key not in root_tree:
                keys = keys or recipe_keys(hparams_file)
                raise _key_error(hparams_file, str(key), where, keys)
            _check_included_keys(root, root_tree[key], tree[key], where, str(key))
        try:
            recursive_update(merged, tree)
        except TypeError as error:
            raise ValueError(f"{where}: {error}") from None
    stream = io.StringIO()
    _yaml().dump(merged, stream)
    return root, stream.getvalue() if merged else ""


def load_recipe_hparams(hparams_file: PathLike, overrides: Union[str, Mapping, None] = None) -> Dict[str, Any]:
    """Loads a recipe (following ``extends``) with command-line overrides.

    Arguments
    ---------
    hparams_file : str or path
        A full recipe or a variant.
    overrides : str or mapping, optional
        ``--key=value`` overrides (YAML text or mapping).

    Returns
    -------
    dict
        The loaded hparams (objects built, references resolved).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "base.yaml").write_text("seed: 1\\nout: !ref res/<seed>\\n")
    >>> _ = (folder / "v.yaml").write_text("extends: base.yaml\\nseed: 2\\n")
    >>> load_recipe_hparams(folder / "v.yaml", "seed: 3")["out"]
    'res/3'
    >>> load_recipe_hparams(folder / "v.yaml", "sed: 3")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.recipe_hparams.RecipeKeyError: command line: ... has no key 'sed'; did you mean seed?
    ...
    """
    root, merged = compose_overrides(hparams_file, overrides)
    with open(root, encoding="utf-8") as fin:
        return load_hyperpyyaml(fin, merged or None)


def save_recipe_hparams(
    hparams_file: PathLike, overrides: Union[str, Mapping, None], out_file: PathLike
) -> Path:
    """Writes the whole recipe as run (every key, references resolved).

    SpeechBrain saves the hparams file it was given; for a variant that
    would be a few lines, so this writes the composed recipe instead.

    Arguments
    ---------
    hparams_file : str or path
        A full recipe or a variant.
    overrides : str or mapping, optional
        ``--key=value`` overrides.
    out_file : str or path
        Where to write (usually ``<output_folder>/hyperparams.yaml``).

    Returns
    -------
    Path
        ``out_file``.
    """
    root, merged = compose_overrides(hparams_file, overrides)
    with open(root, encoding="utf-8") as fin:
        resolved = resolve_references(fin, merged or None).getvalue()
    chain = " <- ".join(str(Path(p).resolve()) for p, _ in reversed(extends_chain(hparams_file)))
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Generated {date.today()} from:\n# {chain}\n# yamllint disable\n"
    out_file.write_text(header + resolved, encoding="utf-8")
    return out_file

