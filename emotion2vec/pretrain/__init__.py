"""Model-independent pieces of emotion2vec / data2vec 2.0 pre-training.

- :mod:`~emotion2vec.pretrain.masking`: block masks, keep/drop indices,
  restoring the full frame order;
- :mod:`~emotion2vec.pretrain.targets`: teacher targets (top-k layer average);
- :mod:`~emotion2vec.pretrain.losses`: frame and utterance regression losses;
- :mod:`~emotion2vec.pretrain.ema`: the EMA teacher and its decay schedule;
- :mod:`~emotion2vec.pretrain.schedulers`: warm-up + cosine lr, weight-decay
  parameter groups;
- :mod:`~emotion2vec.pretrain.manifest`: the pre-training CSV manifest.

Authors
 * emotion2vec-sb contributors
"""
