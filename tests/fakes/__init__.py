"""Tiny fake corpora in their real on-disk layouts, for tests.

Each module writes one corpus into a temporary folder in seconds, with the
junk that real downloads contain (AppleDouble ``._*`` files, ``__MACOSX``),
so preparation code is tested against the layout it will meet.

Authors
 * emotion2vec-sb contributors
"""
