"""Pure rules of the MARRAC process: no I/O, no database, no web. Takes ``now`` as an argument."""
