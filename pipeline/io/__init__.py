"""Reading tables and writing outputs: input formats and encodings, pieces, atomic outputs,
the lock and the resume state."""
