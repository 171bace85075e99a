"""Keys, sealing at rest and keyed hashes. Standard library and PyNaCl only."""
