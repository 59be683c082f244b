"""Signals: what haven computes from an item's content (digests, PDQ, vPDQ).

Constants both PDQ kinds share live here, so code that only stores or compares signals (a
scan's main process, re-matching) reads them without loading PIL, pdqhash or PyAV.
"""

#: PDQ quality below which a hash (of an image or a video frame) is kept but not trusted for
#: near matching (upstream rule).
MIN_TRUSTED_QUALITY = 50
