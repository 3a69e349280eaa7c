"""Downstream evaluation: folds, metrics and (later) heads and training.

Authors
 * emotion2vec-sb contributors
"""
