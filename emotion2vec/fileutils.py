"""Small file helpers shared by preparation, conversion and caching.

Authors
 * emotion2vec-sb contributors
"""

import hashlib
import os
from pathlib import Path
from typing import Union


def sha256_file(path: Union[str, os.PathLike]) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks.

    Arguments
    ---------
    path : str or path
        The file.

    Returns
    -------
    str
        Hex digest.

    Example
    -------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "x"
    >>> _ = f.write_bytes(b"abc")
    >>> sha256_file(f)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
