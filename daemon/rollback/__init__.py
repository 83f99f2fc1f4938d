"""Rollback: planning the undo steps of batches, running them as a batch of their own, and
keeping (or purging) the undo data they need. See docs/recovery.md."""
