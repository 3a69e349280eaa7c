"""Reading torch files that may come from strangers, without running them.

A ``.pt`` / ``.ckpt`` file is a pickle, and a pickle can name any Python
callable to be called while it loads (``os.system`` included). Every
``torch.load`` of the package goes through :func:`load_torch_file`, which

* checks that the path is a regular, non-empty file (no hang on a FIFO);
* loads with ``torch.load(weights_only=True)``: tensors, storages, plain
  containers and numbers, plus exactly the data-only types that released
  checkpoint layouts carry (:data:`SAFE_GLOBALS`, explained entry by
  entry below); any other global is refused before it is called;
* turns the omegaconf stand-ins back into plain dicts and lists (omegaconf
  itself is never imported, nor needed);
* maps every failure (truncation, garbage, refused global, ...) to one
  :class:`CheckpointError` whose one-line message names the file and the
  problem.

Full unpickling happens only with ``trust=True`` (``--trust-checkpoint`` on
the command line), only after the safe load has refused the file, and
with a WARNING: it runs whatever code the file contains.

The allow-list (``SAFE_GLOBALS``), besides what torch allows by default:

``argparse.Namespace``
    legacy fairseq checkpoints (wav2vec 2.0 / data2vec v1 era) store the
    training arguments as ``args``; a Namespace only holds attributes.
``omegaconf.dictconfig.DictConfig``, ``omegaconf.listconfig.ListConfig``
    fairseq checkpoints written without ``OmegaConf.to_container`` store
    ``cfg`` as omegaconf containers; they are rebuilt as :class:`ConfigRecord`
    stand-ins and turned into plain dicts / lists.
``omegaconf.base.ContainerMetadata``, ``omegaconf.base.Metadata``
    the bookkeeping of those containers (kept inert, then dropped).
``omegaconf.nodes.{Any,String,Integer,Float,Boolean}Node``
    the value holders of those containers (turned into their value).
    ``EnumNode`` is not listed: its value would be an arbitrary enum class.
``typing.Any``, ``typing.Dict``, ``typing.List``, ``builtins.{dict, list,
str, int, float, bool}``
    type annotations inside omegaconf metadata; they are loaded as inert
    :class:`TypeMarker` objects, never as the real types.
``collections.defaultdict``
    the omegaconf resolver cache (``defaultdict(dict)``); loaded as a plain
    dict (the factory is never kept).
``numpy ndarray, dtype, scalar, _reconstruct`` (``numpy.core`` and
``numpy._core`` spellings)
    numbers that fairseq trainers keep in ``extra_state`` (losses, meters)
    as numpy values; numpy rebuilds them from raw bytes, and an object
    array can only hold what this same allow-list let through.

Authors
 * emotion2vec-sb contributors
"""

import argparse
import json
import logging
import re
import stat
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from emotion2vec.fileutils import PathLike

logger = logging.getLogger(__name__)

#: How the command line names the opt-in to full unpickling.
TRUST_FLAG = "--trust-checkpoint"


class CheckpointError(ValueError):
    """A file that cannot be read as the checkpoint it should be.

    The message is one line that names the file and the problem (and, for
    conversions, every offending key).
    """


class ConfigRecord:
    """Inert stand-in for an allow-listed omegaconf object in a pickle.

    The unpickler creates it without calling any constructor and hands it
    the pickled state; :func:`to_plain` turns it into plain data.

    Arguments
    ---------
    *args
        Ignored (what the pickle passes to ``__new__``).

    Example
    -------
    >>> record = DictConfigRecord()
    >>> record.__setstate__({"_content": {"a": ValueNodeRecord()}})
    >>> record.state["_content"]["a"].state is None
    True
    """

    #: The pickled name this stand-in replaces.
    pickled_name = ""

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls)
        instance.state = None
        return instance

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"<{type(self).__name__} for {self.pickled_name}>"


class DictConfigRecord(ConfigRecord):
    """Stand-in for ``omegaconf.dictconfig.DictConfig``."""

    pickled_name = "omegaconf.dictconfig.DictConfig"


class ListConfigRecord(ConfigRecord):
    """Stand-in for ``omegaconf.listconfig.ListConfig``."""

    pickled_name = "omegaconf.listconfig.ListConfig"


class ValueNodeRecord(ConfigRecord):
    """Stand-in for the omegaconf value nodes (``AnyNode``, ...)."""

    pickled_name = "omegaconf.nodes.ValueNode"


class MetadataRecord(ConfigRecord):
    """Stand-in for omegaconf ``Metadata`` / ``ContainerMetadata``."""

    pickled_name = "omegaconf.base.Metadata"


class TypeMarker:
    """Inert placeholder for a type named in a pickle (never the type itself).

    Arguments
    ---------
    name : str
        The pickled name, e.g. ``typing.Any``.

    Example
    -------
    >>> TypeMarker("typing.Any")
    <type typing.Any>
    """

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"<type {self.name}>"


def defaultdict_as_dict(default_factory=None, *args):
    """What ``collections.defaultdict(...)`` becomes in a safe load: a dict.

    Arguments
    ---------
    default_factory : object, optional
        Ignored (never kept, never called).
    *args
        Ignored.

    Returns
    -------
    dict
        Empty; the pickle fills it with its items.

    Example
    -------
    >>> defaultdict_as_dict(TypeMarker("builtins.dict"))
    {}
    """
    return {}


#: numpy dtype codes of numbers and booleans (no object or string arrays).
_NUMPY_NUMBER_CODES = "?bBhHiIlLqQefdgFDG"


def _numpy_globals() -> List[Tuple[Any, str]]:
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    entries = [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype")]
    for code in _NUMPY_NUMBER_CODES:  # numpy >= 1.25: one class per dtype
        cls = type(np.dtype(code))
        if cls is not np.dtype:
            entries.append((cls, f"numpy.dtypes.{cls.__name__}"))
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        entries.append((multiarray._reconstruct, f"{module}._reconstruct"))
        entries.append((multiarray.scalar, f"{module}.scalar"))
    return entries


_TYPE_NAMES = (
    "typing.Any", "typing.Dict", "typing.List", "builtins.dict", "builtins.list",
    "builtins.str", "builtins.int", "builtins.float", "builtins.bool",
)
_VALUE_NODES = ("AnyNode", "StringNode", "IntegerNode", "FloatNode", "BooleanNode")

#: ``(object, pickled name)`` pairs allowed on top of torch's defaults
#: (see the module docstring for why each is there).
SAFE_GLOBALS: List[Tuple[Any, str]] = (
    [
        (argparse.Namespace, "argparse.Namespace"),
        (DictConfigRecord, DictConfigRecord.pickled_name),
        (ListConfigRecord, ListConfigRecord.pickled_name),
        (MetadataRecord, "omegaconf.base.ContainerMetadata"),
        (MetadataRecord, "omegaconf.base.Metadata"),
        (defaultdict_as_dict, "collections.defaultdict"),
    ]
    + [(ValueNodeRecord, f"omegaconf.nodes.{name}") for name in _VALUE_NODES]
    + [(TypeMarker(name), name) for name in _TYPE_NAMES]
    + _numpy_globals()
)


_INTERPOLATION = re.compile(r"^\$\{([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\}$")


def resolve_interpolations(root: Dict) -> Dict:
    """Replaces whole-value ``${a.b}`` references of a config by their value.

    omegaconf configs pickled unresolved keep such references; only
    absolute ones that lead to a non-reference value are resolved, anything
    else stays the string it is.

    Arguments
    ---------
    root : dict
        The plain config (changed in place).

    Returns
    -------
    dict
        ``root``.

    Example
    -------
    >>> resolve_interpolations({"model": {"dim": 8, "width": "${model.dim}", "x": "${nope}"}})
    {'model': {'dim': 8, 'width': 8, 'x': '${nope}'}}
    """

    def lookup(dotted):
        node = root
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None, False
            node = node[part]
        if isinstance(node, str) and _INTERPOLATION.match(node):
            return None, False
        return node, True

    def walk(node, depth=0):
        if depth > 50:
            return
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, str):
                match = _INTERPOLATION.match(value)
                if match:
                    found, ok = lookup(match.group(1))
                    if ok:
                        node[key] = found
            elif isinstance(value, (dict, list)):
                walk(value, depth + 1)

    walk(root)
    return root


def to_plain(obj: Any, _seen: Dict[int, Any] = None) -> Any:
    """Replaces the omegaconf stand-ins of a loaded object by plain data.

    ``DictConfig`` becomes a dict, ``ListConfig`` a list, a value node its
    value; dicts and lists are updated in place (a state dict keeps its
    ``_metadata``); everything else is returned unchanged.

    Arguments
    ---------
    obj : object
        What :func:`load_torch_file` unpickled.

    Returns
    -------
    object

    Example
    -------
    >>> node = ValueNodeRecord(); node.__setstate__({"_val": 5})
    >>> cfg = DictConfigRecord(); cfg.__setstate__({"_content": {"depth": node}})
    >>> to_plain({"cfg": cfg})
    {'cfg': {'depth': 5}}
    """
    seen = {} if _seen is None else _seen
    if id(obj) in seen:
        return seen[id(obj)]
    if isinstance(obj, ConfigRecord):
        state = obj.state if isinstance(obj.state, dict) else {}
        if isinstance(obj, ValueNodeRecord):
            return to_plain(state.get("_val"), seen)
        if isinstance(obj, MetadataRecord):
            return None
        content = state.get("_content")
        if isinstance(obj, DictConfigRecord) and isinstance(content, dict):
            out = {}
            seen[id(obj)] = out
            out.update((key, to_plain(value, seen)) for key, value in content.items())
            if state.get("_parent") is None:
                resolve_interpolations(out)
            return out
        if isinstance(obj, ListConfigRecord) and isinstance(content, (list, tuple)):
            out = []
            seen[id(obj)] = out
            out.extend(to_plain(value, seen) for value in content)
            return out
        return content if content is None or isinstance(content, str) else None
    if type(obj).__module__.startswith("omegaconf.") and "omegaconf" in sys.modules:
        # trust=True loaded the real omegaconf objects
        return sys.modules["omegaconf"].OmegaConf.to_container(obj)
    if isinstance(obj, dict):
        seen[id(obj)] = obj
        for key, value in list(obj.items()):
            plain = to_plain(value, seen)
            if plain is not value:
                obj[key] = plain
    elif isinstance(obj, list):
        seen[id(obj)] = obj
        for index, value in enumerate(obj):
            plain = to_plain(value, seen)
            if plain is not value:
                obj[index] = plain
    elif type(obj) is tuple:
        items = tuple(to_plain(value, seen) for value in obj)
        if any(a is not b for a, b in zip(items, obj)):
            return items
    elif isinstance(obj, argparse.Namespace):
        seen[id(obj)] = obj
        for key, value in list(vars(obj).items()):
            setattr(obj, key, to_plain(value, seen))
    return obj


def check_regular_file(path: PathLike) -> Path:
    """Checks that ``path`` is a regular, non-empty file (not a folder, FIFO, ...).

    Arguments
    ---------
    path : str or path
        The file.

    Returns
    -------
    Path

    Example
    -------
    >>> import tempfile
    >>> check_regular_file(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    emotion2vec.safe_load.CheckpointError: ...: is a folder, expected a file
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file not found") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror or error})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError(f"{path}: is a folder, expected a file")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path}: not a regular file")
    if info.st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes)")
    return path


def read_json_object(path: PathLike) -> Dict[str, Any]:
    """Reads a JSON object file (a config, a spec) as data, with a clear error.

    Arguments
    ---------
    path : str or path
        The file (checked with :func:`check_regular_file` first).

    Returns
    -------
    dict

    Example
    -------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "spec.json"
    >>> _ = f.write_text("[1, 2]")
    >>> read_json_object(f)
    Traceback (most recent call last):
    ...
    emotion2vec.safe_load.CheckpointError: ...spec.json: expected a JSON object, got list
    """
    path = check_regular_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:  # bad JSON, bad UTF-8, too deep
        raise CheckpointError(f"{path}: not valid JSON ({one_line(error)})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


_REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+) was not an allowed global")
_BLOCKED_MODULE = re.compile(r"GLOBAL (\S+) whose module (\S+) is blocked")
_REFUSED_TYPE = re.compile(r"(?:but got|unrecognized function) <?(?:class )?'?([\w.]+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SENTENCE_END = re.compile(r"(?<=[a-z)])\. (?=[A-Z])")


def one_line(error: BaseException, limit: int = 200) -> str:
    """The gist of an exception as one short line.

    Arguments
    ---------
    error : BaseException
        The exception.
    limit : int
        Most characters kept.

    Returns
    -------
    str

    Example
    -------
    >>> one_line(RuntimeError("first line\\nsecond"))
    'RuntimeError: first line'
    >>> one_line(RuntimeError("reading zip archive failed. This is an internal error."))
    'RuntimeError: reading zip archive failed'
    """
    text = _ANSI.sub("", str(error)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = _SENTENCE_END.split(lines[0])[0] if lines else ""
    if len(first) > limit:
        first = first[: limit - 3] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


#: How ``torch.save`` files begin: a zip archive (torch >= 1.6) or a
#: protocol-2 pickle (the legacy format).
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80\x02")


def sniff_torch_file(path: Path) -> None:
    """Rejects a file that does not even start like a ``torch.save`` file.

    Arguments
    ---------
    path : Path
        A regular file.

    Example
    -------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "notes.pt"
    >>> _ = f.write_text("hello")
    >>> sniff_torch_file(f)
    Traceback (most recent call last):
    ...
    emotion2vec.safe_load.CheckpointError: ...notes.pt: not a torch checkpoint (5 bytes starting with b'hello')
    """
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not any(head.startswith(magic) for magic in _TORCH_MAGIC):
        size = path.stat().st_size
        raise CheckpointError(
            f"{path}: not a torch checkpoint ({size} bytes starting with {head[:8]!r})"
        )


def _refused_global(error: BaseException):
    """What a weights-only load refused to call or build, or None."""
    text = str(error)
    match = (
        _REFUSED_GLOBAL.search(text) or _BLOCKED_MODULE.search(text)
        or _REFUSED_TYPE.search(text)
    )
    return match.group(1) if match else None


def _damage(path: Path, error: BaseException) -> CheckpointError:
    size = path.stat().st_size
    reason = one_line(error)
    if "Weights only load failed" in reason:  # e.g. an opcode outside the safe subset
        reason = one_line(RuntimeError(str(error).split("WeightsUnpickler error:")[-1]))
    return CheckpointError(
        f"{path}: not a readable torch checkpoint, the file is truncated or damaged "
        f"({size} bytes; {reason})"
    )


def load_torch_file(path: PathLike, trust: bool = False) -> Any:
    """``torch.load`` for files that may come from anyone (see the module docstring).

    Arguments
    ---------
    path : str or path
        A ``torch.save`` file.
    trust : bool
        Allow full unpickling (runs any code in the file!) when the safe
        load refuses the file; logs a WARNING when it happens.

    Returns
    -------
    object
        What the file holds (on the CPU), omegaconf configs as plain dicts.

    Example
    -------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "w.pt"
    >>> torch.save({"w": torch.ones(2), "cfg": argparse.Namespace(lr=1)}, f)
    >>> load_torch_file(f)["cfg"].lr
    1
    >>> class Evil:
    ...     def __reduce__(self):
    ...         return (print, ("this would run",))
    >>> torch.save(Evil(), f)
    >>> load_torch_file(f)
    Traceback (most recent call last):
    ...
    emotion2vec.safe_load.CheckpointError: ...w.pt: refused to load: it needs print, ...
    """
    path = check_regular_file(path)
    sniff_torch_file(path)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return to_plain(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as error:  # untrusted bytes: every failure is the file's
        refused = _refused_global(error)
        if refused is None and not (trust and "Weights only load failed" in str(error)):
            raise _damage(path, error) from None
        if not trust:
            raise CheckpointError(
                f"{path}: refused to load: it needs {refused}, which could run code "
                "(only tensors and the data-only types of released checkpoints are "
                f"loaded); if you trust this file, pass {TRUST_FLAG} (trust=True)"
            ) from None
    logger.warning(
        "%s: loading with full unpickling because trust=True (%s): this runs any "
        "code the file contains", path, TRUST_FLAG,
    )
    try:
        return to_plain(torch.load(path, map_location="cpu", weights_only=False))
    except Exception as error:
        raise CheckpointError(
            f"{path}: cannot load even with full unpickling ({one_line(error)})"
        ) from None


def load_state_dict_file(path: PathLike, trust: bool = False) -> Dict[str, torch.Tensor]:
    """Loads a file that must hold a state dict (``str`` -> tensor).

    Arguments
    ---------
    path : str or path
        A ``torch.save(module.state_dict())`` file.
    trust : bool
        See :func:`load_torch_file`.

    Returns
    -------
    dict

    Example
    -------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "m.ckpt"
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), f)
    >>> sorted(load_state_dict_file(f))
    ['bias', 'weight']
    >>> torch.save([1, 2], f)
    >>> load_state_dict_file(f)
    Traceback (most recent call last):
    ...
    emotion2vec.safe_load.CheckpointError: ...m.ckpt: not a state dict (holds a list)
    """
    state = load_torch_file(path, trust=trust)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a state dict (holds a {type(state).__name__})")
    bad = [repr(k) for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise CheckpointError(
            f"{path}: not a state dict (entries that are not name -> tensor: "
            + ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else "") + ")"
        )
    return state


def state_dict_mismatch(
    expected: Dict[str, torch.Size], state: Dict[str, torch.Tensor], limit: int = 12
) -> List[str]:
    """Missing, unexpected and mis-shaped keys of ``state`` (empty if it fits).

    Comparing shapes first (against a model built on the meta device) means
    no memory is allocated for what a damaged config claims.

    Arguments
    ---------
    expected : dict
        Name -> shape, e.g. ``{k: v.shape for k, v in model.state_dict().items()}``.
    state : dict
        Loaded state dict.
    limit : int
        Most keys named per kind of problem (the rest are counted).

    Returns
    -------
    list of str
        One entry per kind of problem.

    Example
    -------
    >>> state_dict_mismatch({"w": torch.Size([2])}, {"w": torch.zeros(3), "b": torch.zeros(1)})
    ['unexpected keys: b', 'shape mismatches: w (file (3,), model (2,))']
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k])})"
        for k in set(state) & set(expected)
        if tuple(state[k].shape) != tuple(expected[k])
    )
    def listing(names):
        shown = ", ".join(names[:limit])
        return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")

    problems = []
    if missing:
        problems.append("missing keys: " + listing(missing))
    if unexpected:
        problems.append("unexpected keys: " + listing(unexpected))
    if wrong:
        problems.append("shape mismatches: " + listing(wrong))
    return problems
