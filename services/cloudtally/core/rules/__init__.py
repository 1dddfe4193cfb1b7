"""Verification rules kept one per module (core.verification holds the rule table)."""
