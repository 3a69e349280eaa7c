"""Tests for emotion2vec.pretrain.masking.

Authors
 * emotion2vec-sb contributors
"""

import pytest
import torch

from emotion2vec.pretrain.masking import (
    compute_block_mask_1d,
    crop_mask,
    gather_frames,
    make_pretrain_masks,
    mask_to_keep_indices,
    restore_order,
)


def _runs(row):
    """Lengths of the runs of True in a 1-D bool tensor."""
    runs, n = [], 0
    for v in row.tolist():
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    if n:
        runs.append(n)
    return runs


@pytest.mark.parametrize("prob,adjust", [(0.5, 0.05), (0.55, 0.1), (0.7, 0.0)])
def test_exact_masked_count_per_row(prob, adjust):
    g = torch.Generator().manual_seed(1)
    for frames in list(range(0, 60)) + [99, 100, 249, 250, 999]:
        mask = compute_block_mask_1d(frames, 8, prob, 5, adjust, generator=g)
        assert mask.shape == (8, frames)
        assert mask.dtype == torch.bool
        assert mask.sum(dim=1).tolist() == [int(frames * prob)] * 8


def test_block_structure():
    g = torch.Generator().manual_seed(0)
    mask = compute_block_mask_1d(1000, 16, 0.5, 5, 0.05, generator=g)
    runs = [r for row in mask for r in _runs(row)]
    # ~110 centred blocks of 5 cover ~42 % of the frames; the rest up to
    # 50 % are single random frames, so most masked frames sit in runs >= L.
    assert sum(r for r in runs if r >= 5) / sum(runs) > 0.8
    # an i.i.d. mask with the same rate has far shorter runs
    iid = torch.rand(16, 1000, generator=g) < 0.5
    iid_runs = [r for row in iid for r in _runs(row)]
    assert sum(r for r in iid_runs if r >= 5) / sum(iid_runs) < 0.3


def test_extreme_probabilities():
    g = torch.Generator().manual_seed(0)
    assert compute_block_mask_1d(30, 2, 0.0, 5, 0.05, generator=g).sum() == 0
    assert compute_block_mask_1d(10, 4, 1.0, 3, generator=g).all()


def test_determinism_with_generator():
    a = compute_block_mask_1d(
        200, 8, 0.5, 5, 0.05, generator=torch.Generator().manual_seed(3)
    )
    b = compute_block_mask_1d(
        200, 8, 0.5, 5, 0.05, generator=torch.Generator().manual_seed(3)
    )
    c = compute_block_mask_1d(
        200, 8, 0.5, 5, 0.05, generator=torch.Generator().manual_seed(4)
    )
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # Clones are different masks.
    assert not torch.equal(a[0], a[1])


def test_invalid_arguments():
    with pytest.raises(ValueError):
        compute_block_mask_1d(10, 0, 0.5, 5)
    with pytest.raises(ValueError):
        compute_block_mask_1d(10, 1, 1.5, 5)
    with pytest.raises(ValueError):
        compute_block_mask_1d(10, 1, 0.5, 0)


def test_crop_mask():
    mask = torch.arange(10).remainder(2).bool().view(1, 10)
    assert torch.equal(crop_mask(mask, 3, 4), mask[:, 3:7])
    with pytest.raises(ValueError):
        crop_mask(mask, 8, 4)


def test_make_pretrain_masks_shapes_and_crop():
    g = torch.Generator().manual_seed(0)
    mask = make_pretrain_masks([50, 80, 61], 4, 0.5, 5, 0.05, generator=g)
    assert mask.shape == (12, 50)
    # The first item is not cropped: exact count.
    assert mask[:4].sum(dim=1).tolist() == [25] * 4
    # Explicit starts reproduce a manual crop of the same draws.
    g1 = torch.Generator().manual_seed(5)
    got = make_pretrain_masks(
        [30, 40], 2, 0.5, 5, 0.0, generator=g1, num_frames=20, starts=[3, 10]
    )
    g2 = torch.Generator().manual_seed(5)
    m0 = compute_block_mask_1d(30, 2, 0.5, 5, 0.0, generator=g2)
    m1 = compute_block_mask_1d(40, 2, 0.5, 5, 0.0, generator=g2)
    assert torch.equal(got, torch.cat([m0[:, 3:23], m1[:, 10:30]]))
    with pytest.raises(ValueError):
        make_pretrain_masks([10, 20], 2, 0.5, 5, num_frames=15)


def test_keep_indices_equal_counts_and_time_order():
    g = torch.Generator().manual_seed(2)
    mask = make_pretrain_masks([60, 75, 90], 8, 0.5, 5, 0.05, generator=g)
    keep, drop = mask_to_keep_indices(mask)
    frames = mask.shape[1]
    n_keep = frames - int(mask[0].sum())
    assert keep.shape == (24, n_keep)
    assert drop.shape == (24, frames - n_keep)
    assert (keep.diff(dim=1) > 0).all()
    assert (drop.diff(dim=1) > 0).all()
    for b in range(mask.shape[0]):
        both = torch.cat([keep[b], drop[b]]).sort().values
        assert torch.equal(both, torch.arange(frames))
        unmasked = (~mask[b]).nonzero().squeeze(1)
        masked = mask[b].nonzero().squeeze(1)
        if len(unmasked) >= n_keep:
            # the first n_keep unmasked frames, in time order
            assert torch.equal(keep[b], unmasked[:n_keep])
        else:
            # all unmasked frames plus the earliest masked ones
            extra = masked[: n_keep - len(unmasked)]
            expected = torch.cat([unmasked, extra]).sort().values
            assert torch.equal(keep[b], expected)


def test_keep_indices_documented_example():
    mask = torch.tensor(
        [
            [False, True, False, True, False],  # row 0: 2 masked -> keep 3
            [True, True, True, False, False],  # more masks: keeps frame 0
            [False, False, False, False, True],  # fewer: drops frame 3
        ]
    )
    keep, drop = mask_to_keep_indices(mask)
    assert keep.tolist() == [[0, 2, 4], [0, 3, 4], [0, 1, 2]]
    assert drop.tolist() == [[1, 3], [1, 2], [3, 4]]


def test_restore_round_trip():
    g = torch.Generator().manual_seed(0)
    mask = make_pretrain_masks([40, 47], 3, 0.5, 5, 0.05, generator=g)
    keep, drop = mask_to_keep_indices(mask)
    x = torch.randn(mask.shape[0], mask.shape[1], 4, generator=g)
    kept = gather_frames(x, keep)
    dropped = gather_frames(x, drop)
    assert torch.equal(restore_order(kept, keep, drop, dropped), x)
    zero_filled = restore_order(kept, keep, drop)
    full_drop = torch.zeros_like(mask)
    full_drop.scatter_(1, drop, True)
    assert torch.equal(zero_filled[~full_drop], x[~full_drop])
    assert (zero_filled[full_drop] == 0).all()


def test_restore_is_differentiable():
    mask = torch.tensor([[False, True, False, True]])
    keep, drop = mask_to_keep_indices(mask)
    kept = torch.randn(1, 2, 3, requires_grad=True)
    restore_order(kept, keep, drop, torch.ones(1, 2, 3)).sum().backward()
    assert torch.equal(kept.grad, torch.ones(1, 2, 3))


def test_shortest_trainable_frames_holds_a_masked_and_a_kept_frame():
    from emotion2vec.pretrain.masking import shortest_trainable_frames

    for prob in (0.0, 0.1, 0.3, 0.5, 0.65, 0.9):
        frames = shortest_trainable_frames(prob)
        mask = compute_block_mask_1d(frames, 4, prob, 5, 0.05)
        assert (mask.sum(1) < frames).all()
        if prob > 0:
            assert (mask.sum(1) >= 1).all()
            fewer = frames - 1
            assert fewer == 0 or int(fewer * prob) == 0 or fewer - int(fewer * prob) == 0
    with pytest.raises(ValueError, match="keep a frame"):
        shortest_trainable_frames(1.0)
