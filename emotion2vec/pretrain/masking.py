"""Block masks for pre-training and the keep/drop bookkeeping around them.

The masks follow the data2vec 2.0 dataset-side ``compute_block_mask_1d``
used by the released emotion2vec recipe (``precompute_mask_config: {}``):
every utterance gets ``clone_batch`` independent masks over its frames,
each masking EXACTLY ``int(frames * mask_prob)`` frames in blocks of about
``mask_length`` frames. ``True`` means masked everywhere in this module.

The student (MAE style) only sees the kept frames. All rows of a batch must
keep the same number of frames; :func:`mask_to_keep_indices` decides which
ones (see its docstring) and :func:`restore_order` puts the student outputs
back on the full time axis for the decoder.

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def compute_block_mask_1d(
    num_frames: int,
    clone_batch: int,
    mask_prob: float,
    mask_length: int,
    mask_prob_adjust: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draws ``clone_batch`` block masks over ``num_frames`` frames.

    Per row (data2vec 2.0 block masking, ``inverse_mask=False``,
    ``mask_dropout=0``, ``expand_adjacent=False``, ``non_overlapping=False``):

    1. ``n_centers = int(T * ((mask_prob + mask_prob_adjust) / mask_length))``
       centres drawn uniformly WITH replacement from ``[0, T)``;
    2. each centre ``c`` masks ``[c - L//2, c - L//2 + L - 1]`` clipped to
       ``[0, T - 1]``;
    3. the row is then forced to exactly ``int(T * mask_prob)`` masked frames
       by unmasking random masked frames or masking random unmasked frames
       (uniform, without replacement).

    Arguments
    ---------
    num_frames : int
        Number of frames T of the (uncropped) utterance.
    clone_batch : int
        Number of independent masks (rows).
    mask_prob : float
        Fraction of frames masked in every row, in [0, 1].
    mask_length : int
        Block length L.
    mask_prob_adjust : float
        Added to ``mask_prob`` when drawing the number of centres only
        (released base config: 0.05), so that overlaps are compensated
        before the exact count is forced.
    generator : torch.Generator, optional
        CPU generator; the mask is a deterministic function of its state.

    Returns
    -------
    mask : torch.Tensor
        Bool ``[clone_batch, num_frames]``, ``True`` = masked.

    Example
    -------
    >>> g = torch.Generator().manual_seed(0)
    >>> m = compute_block_mask_1d(50, 3, 0.5, 5, 0.05, generator=g)
    >>> m.shape, m.sum(dim=1).tolist()
    (torch.Size([3, 50]), [25, 25, 25])
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if clone_batch < 1:
        raise ValueError(f"clone_batch must be >= 1, got {clone_batch}")
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in [0, 1], got {mask_prob}")
    if mask_length < 1:
        raise ValueError(f"mask_length must be >= 1, got {mask_length}")
    if mask_prob + mask_prob_adjust < 0:
        raise ValueError("mask_prob + mask_prob_adjust must be >= 0")

    mask = torch.zeros(clone_batch, num_frames, dtype=torch.bool)
    if num_frames == 0:
        return mask

    # Same operation order as the release (float rounding of the product).
    n_centers = int(num_frames * ((mask_prob + mask_prob_adjust) / mask_length))
    if n_centers > 0:
        centers = torch.randint(
            0, num_frames, (clone_batch, n_centers), generator=generator
        )
        offsets = torch.arange(mask_length) - mask_length // 2
        idx = (centers.unsqueeze(-1) + offsets).clamp_(0, num_frames - 1)
        mask.scatter_(1, idx.reshape(clone_batch, -1), True)

    target = int(num_frames * mask_prob)
    for row in mask:
        n = int(row.sum())
        if n > target:
            pick = torch.multinomial(
                row.float(), n - target, replacement=False, generator=generator
            )
            row[pick] = False
        elif n < target:
            pick = torch.multinomial(
                (~row).float(),
                target - n,
                replacement=False,
                generator=generator,
            )
            row[pick] = True
    return mask


def shortest_trainable_frames(mask_prob: float) -> int:
    """Fewest frames whose masks hold a masked frame and a kept one.

    :func:`compute_block_mask_1d` masks exactly ``int(T * mask_prob)`` of
    ``T`` frames: an utterance with fewer frames than this has no masked
    frame (no frame loss, no utterance target) or no kept frame (nothing
    for the student to read).

    Arguments
    ---------
    mask_prob : float
        Fraction of frames masked, in [0, 1) (0: only a kept frame is needed).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``mask_prob`` outside [0, 1): every frame would be masked.

    Example
    -------
    >>> shortest_trainable_frames(0.5), shortest_trainable_frames(0.65), shortest_trainable_frames(0.0)
    (2, 2, 1)
    >>> shortest_trainable_frames(0.3)
    4
    """
    if not 0.0 <= mask_prob < 1.0:
        raise ValueError(f"mask_prob must be in [0, 1) to keep a frame, got {mask_prob}")
    frames = 1
    while (mask_prob > 0 and int(frames * mask_prob) < 1) or frames - int(frames * mask_prob) < 1:
        frames += 1
    return frames


def crop_mask(mask: torch.Tensor, start: int, length: int) -> torch.Tensor:
    """Crops a mask along time, like the audio crop of the batch.

    Arguments
    ---------
    mask : torch.Tensor
        ``[rows, frames]`` mask.
    start : int
        First frame kept.
    length : int
        Number of frames kept.

    Returns
    -------
    cropped : torch.Tensor
        ``[rows, length]`` view of ``mask``.

    Example
    -------
    >>> m = torch.tensor([[True, False, True, True]])
    >>> crop_mask(m, 1, 2)
    tensor([[False,  True]])
    """
    frames = mask.shape[-1]
    if start < 0 or length < 0 or start + length > frames:
        raise ValueError(
            f"crop [{start}, {start + length}) outside a mask of "
            f"{frames} frames"
        )
    return mask[..., start : start + length]


def make_pretrain_masks(
    frame_counts: Sequence[int],
    clone_batch: int,
    mask_prob: float,
    mask_length: int,
    mask_prob_adjust: float = 0.0,
    generator: torch.Generator | None = None,
    num_frames: int | None = None,
    starts: Sequence[int] | None = None,
) -> torch.Tensor:
    """Collate-side masks of a batch: one block mask per item and clone,
    computed on each item's uncropped frame count, then cropped.

    Arguments
    ---------
    frame_counts : sequence of int
        Frames of each (uncropped) item (conv-extractor output length).
    clone_batch : int
        Masks per item.
    mask_prob : float
        See :func:`compute_block_mask_1d`.
    mask_length : int
        See :func:`compute_block_mask_1d`.
    mask_prob_adjust : float
        See :func:`compute_block_mask_1d`.
    generator : torch.Generator, optional
        CPU generator for masks and crop starts.
    num_frames : int, optional
        Frames of the batch after cropping; default ``min(frame_counts)``
        (pre-training crops every item to the shortest one).
    starts : sequence of int, optional
        Crop start (in frames) per item; default uniform in
        ``[0, count - num_frames]``. The release draws the mask crop
        independently of the audio crop; pass the audio crop here to align
        them.

    Returns
    -------
    mask : torch.Tensor
        Bool ``[len(frame_counts) * clone_batch, num_frames]``, item-major
        (the clones of item 0 first, as ``repeat_interleave``). Rows may
        differ by a few masked frames after cropping.

    Example
    -------
    >>> g = torch.Generator().manual_seed(0)
    >>> m = make_pretrain_masks([40, 52], 2, 0.5, 5, 0.05, generator=g)
    >>> m.shape
    torch.Size([4, 40])
    """
    counts = [int(c) for c in frame_counts]
    if not counts:
        raise ValueError("frame_counts is empty")
    if num_frames is None:
        num_frames = min(counts)
    if num_frames > min(counts):
        raise ValueError(
            f"num_frames={num_frames} is longer than the shortest item "
            f"({min(counts)} frames); pre-training does not pad"
        )
    if starts is not None and len(starts) != len(counts):
        raise ValueError("starts must have one entry per item")

    rows = []
    for i, count in enumerate(counts):
        mask = compute_block_mask_1d(
            count, clone_batch, mask_prob, mask_length, mask_prob_adjust,
            generator=generator,
        )
        if starts is not None:
            start = int(starts[i])
        else:
            high = count - num_frames + 1
            start = int(torch.randint(0, high, (1,), generator=generator))
        rows.append(crop_mask(mask, start, num_frames))
    return torch.cat(rows, dim=0)


def mask_to_keep_indices(
    mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames the student keeps and frames it drops, per row.

    Every row keeps ``n_keep = T - (number of masked frames in row 0)``
    frames (released semantics: the keep order comes from sorting the mask,
    unmasked frames first, each group in time order):

    - a row with at least ``n_keep`` unmasked frames keeps its FIRST
      ``n_keep`` unmasked frames; its last few unmasked frames are dropped
      (they get decoder noise but stay out of the loss, which only uses
      ``mask``);
    - a row with fewer unmasked frames keeps all of them plus its EARLIEST
      masked frames (the student sees them; they still count in the loss).

    When all rows mask the same number of frames (the uncropped case), the
    kept frames are exactly the unmasked ones.

    Arguments
    ---------
    mask : torch.Tensor
        Bool ``[batch, frames]``, ``True`` = masked.

    Returns
    -------
    keep_idx : torch.Tensor
        int64 ``[batch, n_keep]``, increasing along time.
    masked_idx : torch.Tensor
        int64 ``[batch, frames - n_keep]``, the dropped frames (complement of
        ``keep_idx``), increasing along time.

    Example
    -------
    >>> m = torch.tensor([[False, True, True, False],
    ...                   [True, True, True, False]])
    >>> keep, drop = mask_to_keep_indices(m)
    >>> keep.tolist(), drop.tolist()
    ([[0, 3], [0, 3]], [[1, 2], [1, 2]])
    """
    if mask.dim() != 2 or mask.shape[0] == 0:
        raise ValueError(
            f"mask must be [batch>0, frames], got {tuple(mask.shape)}"
        )
    batch, frames = mask.shape
    mask = mask.bool()
    n_keep = frames - int(mask[0].sum())
    # Unmasked frames first, then masked ones, each group in time order.
    time = torch.arange(frames, device=mask.device)
    order = torch.argsort(mask.long() * frames + time, dim=1)
    keep_idx = order[:, :n_keep].sort(dim=1).values
    masked_idx = order[:, n_keep:].sort(dim=1).values
    return keep_idx, masked_idx


def gather_frames(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Selects frames per row: ``out[b, i] = x[b, idx[b, i]]``.

    Arguments
    ---------
    x : torch.Tensor
        ``[batch, frames, dim]``.
    idx : torch.Tensor
        int64 ``[batch, n]`` frame indices.

    Returns
    -------
    out : torch.Tensor
        ``[batch, n, dim]``.

    Example
    -------
    >>> x = torch.arange(6.0).view(1, 3, 2)
    >>> gather_frames(x, torch.tensor([[2, 0]])).tolist()
    [[[4.0, 5.0], [0.0, 1.0]]]
    """
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def restore_order(
    kept: torch.Tensor,
    keep_idx: torch.Tensor,
    masked_idx: torch.Tensor,
    fill: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scatters the kept outputs back to full length (decoder input).

    Arguments
    ---------
    kept : torch.Tensor
        ``[batch, n_keep, dim]`` outputs at the kept frames (same order as
        ``keep_idx``).
    keep_idx : torch.Tensor
        int64 ``[batch, n_keep]`` from :func:`mask_to_keep_indices`.
    masked_idx : torch.Tensor
        int64 ``[batch, n_mask]`` from :func:`mask_to_keep_indices`.
    fill : torch.Tensor, optional
        ``[batch, n_mask, dim]`` values for the dropped frames (the release
        uses N(0, 0.01) noise); zeros when omitted.

    Returns
    -------
    full : torch.Tensor
        ``[batch, n_keep + n_mask, dim]`` in time order.

    Example
    -------
    >>> m = torch.tensor([[False, True, False]])
    >>> keep, drop = mask_to_keep_indices(m)
    >>> x = torch.arange(6.0).view(1, 3, 2)
    >>> restore_order(gather_frames(x, keep), keep, drop).tolist()
    [[[0.0, 1.0], [0.0, 0.0], [4.0, 5.0]]]
    """
    batch, n_keep, dim = kept.shape
    n_mask = masked_idx.shape[1]
    if fill is None:
        fill = kept.new_zeros(batch, n_mask, dim)
    if fill.shape != (batch, n_mask, dim):
        raise ValueError(
            f"fill must be {(batch, n_mask, dim)}, got {tuple(fill.shape)}"
        )
    full = kept.new_zeros(batch, n_keep + n_mask, dim)
    full = full.scatter(1, keep_idx.unsqueeze(-1).expand(-1, -1, dim), kept)
    full = full.scatter(
        1, masked_idx.unsqueeze(-1).expand(-1, -1, dim), fill.to(kept.dtype)
    )
    return full
