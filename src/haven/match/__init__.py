"""Matching signals against hash sets: exact digests and PDQ near matching (`near`)."""
