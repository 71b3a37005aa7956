"""Saved dashboard views: a named filter + sort a person can reopen, keep to themselves or share."""
