"""Identity and access (L3): API tokens (shown once, stored as salted hashes), per-project roles,
and who-may-do-what for every store operation."""

from shipyard.access._tokens import Principal, authenticate, bootstrap_admin, issue_token

__all__ = ["Principal", "authenticate", "bootstrap_admin", "issue_token"]
