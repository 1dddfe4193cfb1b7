"""Quarterly rightsizing rounds: open, decide, work order, verify (rules in core/rounds.py)."""
