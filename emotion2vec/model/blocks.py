"""Block indices: the one check of a request for block outputs.

Blocks are numbered from 0 (negative from the end). Used by the model
(``Emotion2vecModel.resolve_layers``), the upstreams and the feature options.

Authors
 * emotion2vec-sb contributors
"""

from typing import List, Optional, Sequence, Union

ALL_BLOCKS = "all"


def resolve_blocks(
    indices: Union[None, str, Sequence[int]], num_blocks: int, detail: str = ""
) -> Optional[List[int]]:
    """Checks block indices (negative from the end) against ``num_blocks``.

    Arguments
    ---------
    indices : sequence of int, "all" or None
        Requested blocks (``"all"``: every block, in order).
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
    >>> resolve_blocks("all", 3)
    [0, 1, 2]
    """
    if indices is None:
        return None
    if isinstance(indices, str):
        if indices != ALL_BLOCKS:
            raise ValueError(f'blocks must be "{ALL_BLOCKS}" or indices, got {indices!r}')
        return list(range(num_blocks))
    resolved = []
    for index in indices:
        if not -num_blocks <= int(index) < num_blocks:
            raise ValueError(
                f"block {index} out of range: there are {num_blocks} blocks "
                f"(0..{num_blocks - 1}, or -{num_blocks}..-1){detail}"
            )
        resolved.append(int(index) % num_blocks)
    return resolved
