"""File operations: one module per op kind, all file syscalls through one wrapper."""
