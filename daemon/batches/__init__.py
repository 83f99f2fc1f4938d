"""Batches: their runtime state, progress, retries, scheduling, uploads and results."""
