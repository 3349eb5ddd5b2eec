"""The online store port (:mod:`shipyard.online.base`) and its backends: SQLite and Redis."""
