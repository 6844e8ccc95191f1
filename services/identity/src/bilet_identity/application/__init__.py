"""Use cases of the identity service: command handlers (load, fold, decide, seal, append with the
expected version, retry on a conflict), queries, and the audit of every personal-data access."""
