"""Emotion prediction in conversation (EPC; emotion2vec paper Table 6, after
Shi, Li & Toda, Interspeech 2023).

Predict the emotion of a speaker's NEXT turn in a dialogue from the turns
before it, with a hierarchical GRU (utterances inside a turn, then turns):

* :mod:`emotion2vec.epc.dialogues`: manifest rows -> dialogues -> turns ->
  prediction samples (history window, target turn label);
* :mod:`emotion2vec.epc.text`: the text side (a SentencePiece tokenizer
  trained on a fold's training transcripts, or frozen BERT features from a
  local Hugging Face folder);
* :mod:`emotion2vec.epc.model`: the text encoder and the hierarchical GRU;
* :mod:`emotion2vec.epc.data`: per-utterance inputs, dataset and batches;
* :mod:`emotion2vec.epc.crossval`: the leave-one-speaker-out driver
  (features, folds, training, results);
* :mod:`emotion2vec.epc.recipe`: the recipe entry point
  (``recipes/IEMOCAP/emotion_prediction/train.py``).

Authors
 * emotion2vec-sb contributors
"""
