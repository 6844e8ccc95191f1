"""Use cases: load a stream, fold it, decide, append with the expected version; queries."""
