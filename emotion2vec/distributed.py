"""DDP data loading shared by the Brains that train from a batch sampler.

SpeechBrain wraps a batch sampler in ``DistributedSamplerWrapper`` under
DDP. For a rank that gets exactly one batch in an epoch its
``operator.itemgetter`` returns that batch itself instead of a 1-tuple, and
the loader then takes each item index for a batch (``TypeError: 'int'
object is not iterable``). :func:`fix_batch_sampler_wrapper` swaps in
:class:`DistributedBatchSamplerWrapper`, which gives the same batches.

Authors
 * emotion2vec-sb contributors
"""

from typing import Any, Dict

import torch
from speechbrain.dataio.sampler import DistributedSamplerWrapper


class DistributedBatchSamplerWrapper(DistributedSamplerWrapper):
    """SpeechBrain's ``DistributedSamplerWrapper`` around a batch sampler,
    right also for a rank that gets exactly one batch.

    Example
    -------
    >>> batches = [[0, 1], [2]]
    >>> list(DistributedBatchSamplerWrapper(batches, num_replicas=2, rank=0, shuffle=False))
    [[0, 1]]
    >>> list(DistributedSamplerWrapper(batches, num_replicas=2, rank=0, shuffle=False))
    [0, 1]
    """

    def __iter__(self):
        batches = list(self.sampler)
        return iter([batches[i] for i in torch.utils.data.DistributedSampler.__iter__(self)])


def fix_batch_sampler_wrapper(loader_kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Replaces SpeechBrain's DDP batch-sampler wrapper by the fixed one.

    Call it on what ``Brain._train_loader_specifics`` returns.

    Arguments
    ---------
    loader_kwargs : dict
        Loader options; ``batch_sampler`` may be SpeechBrain's wrapper.

    Returns
    -------
    dict
        The same options (the wrapper's class changed in place; same batches).

    Example
    -------
    >>> kwargs = {"batch_sampler": DistributedSamplerWrapper([[0], [1]], num_replicas=2, rank=1)}
    >>> type(fix_batch_sampler_wrapper(kwargs)["batch_sampler"]).__name__
    'DistributedBatchSamplerWrapper'
    """
    wrapper = loader_kwargs.get("batch_sampler")
    if type(wrapper) is DistributedSamplerWrapper:
        wrapper.__class__ = DistributedBatchSamplerWrapper
    return loader_kwargs
