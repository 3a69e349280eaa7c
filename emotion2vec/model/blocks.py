"""Block indices: the one check of a request for block outputs.

Blocks are numbered from 0 (negative from the end). Used by the model
(``Emotion2vecModel.resolve_layers``), the upstreams and the feature options.

Authors
 * emotion2vec-sb contributors
"""

from typing import List, Optional, Sequence


def resolve_blocks(
    indices: Optional[Sequence[int]], num_blocks: int, detail: str = ""
) -> Optional[List[int]]:
    """Checks block indices (negative from the end) against ``num_blocks``.

    Arguments
    ---------
    indices : sequence of int or None
        Requested blocks.
    num_blocks : int
        Blocks the model (or upstream) has.
    detail : str
        Appended to the error message (e.g. how the blocks are split).

    Returns
    -------
    list of int or None
        Non-negative indices.

    Example
    -------
    >>> resolve_blocks([-1, 0], 12)
    [11, 0]
    >>> resolve_blocks([12], 12)
    Traceback (most recent call last):
    ...
    ValueError: block 12 out of range: there are 12 blocks (0..11, or -12..-1)
    """
    if indices is None:
        return None
    resolved = []
    for index in indices:
        if not -num_blocks <= int(index) < num_blocks:
            raise ValueError(
                f"block {index} out of range: there are {num_blocks} blocks "
                f"(0..{num_blocks - 1}, or -{num_blocks}..-1){detail}"
            )
        resolved.append(int(index) % num_blocks)
    return resolved
