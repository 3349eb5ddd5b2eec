"""Shared helpers, split by topic. Stdlib and ``shipyard.exceptions`` only; nothing vendor-specific."""
