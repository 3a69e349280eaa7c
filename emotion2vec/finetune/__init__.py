"""Fine-tuning emotion2vec on your own data, any label set.

- :mod:`~emotion2vec.finetune.model`: the backbone of any upstream (its
  official head and decoder dropped) + a downstream head.
- :mod:`~emotion2vec.finetune.freezing`: what trains (all blocks with the
  conv front-end frozen, the top N blocks, or the head only) and the
  optimizer groups (head / backbone learning rates, layer-wise decay).
- :mod:`~emotion2vec.finetune.data`: waveform datasets and length-bucketed,
  resumable batches.
- :mod:`~emotion2vec.finetune.brain`: the fine-tuning Brain.
- :mod:`~emotion2vec.finetune.export`: a results folder -> a classifier
  folder (``emotion2vec export``).
- :mod:`~emotion2vec.finetune.results`: ``results.md`` / ``results.json``
  of a train/valid/test split.
- :mod:`~emotion2vec.finetune.recipe`: ``recipes/custom/emotion_recognition``.
"""
