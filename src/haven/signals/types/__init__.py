"""Signal types, one module each; importing this package's modules registers them.

A new hash type is one module here (plus its schema decision, see `SignalType`)."""
