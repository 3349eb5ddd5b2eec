"""The online store port: the latest feature values of each entity, per feature view, for serving.

The feature store (:mod:`shipyard.features`) materializes feature views into an online store and reads
them back at prediction time. Backends are chosen by URI (:mod:`shipyard.plugins`, kind ``online``):
``sqlite:///path/online.db`` (the embedded default, ``<home>/online.db``) and ``redis://host:port/db``.

Contract for every implementation
---------------------------------
* **Rows.** A row is one entity's latest values in one view: ``key`` (the entity's join-key values,
  already encoded as a string by the caller), ``event_ts`` and ``created_ts`` (integer microseconds
  since the epoch, UTC; ``created_ts`` is 0 when the source has no creation time) and ``values``
  (opaque bytes, encoded and decoded by the caller).
* **Newer wins.** :meth:`OnlineStore.write` keeps, per key, the row with the greatest
  ``(event_ts, created_ts)``; a row equal to the stored one in both replaces it. Writing the same rows
  twice, or older rows after newer ones, changes nothing: materialization is idempotent and resumable.
* **Atomicity.** Each :meth:`OnlineStore.write` call applies completely or not at all, up to a size a
  backend may document (Redis: 10,000 keys), above which it applies in parts that are each atomic;
  newer-wins makes writing the whole batch again after a failure safe.
* **Thread safety.** One store object may be shared by many threads.
* **Namespaces.** ``view`` names a namespace (the feature store passes ``"<project>/<view>"``);
  views never see each other's rows.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OnlineRow:
    key: str
    event_ts: int
    created_ts: int
    values: bytes


class OnlineStore(abc.ABC):
    """Latest rows per (view, key)."""

    @property
    @abc.abstractmethod
    def uri(self) -> str:
        """The URI the store was opened with, with any password masked."""

    @abc.abstractmethod
    def write(self, view: str, rows: Sequence[OnlineRow]) -> int:
        """Upsert ``rows`` under the newer-wins rule, in one atomic step.

        Several rows of one key in ``rows`` count as their newest (greatest ``(event_ts, created_ts)``;
        of equal ones, the later in ``rows``), whatever their order. Every row is checked before
        anything is written.

        Returns:
            How many keys took the batch's row (keys whose stored row is newer are not counted; a key
            given several times counts once).

        Raises:
            InvalidParameter: a row that is not an :class:`OnlineRow`, a key that is not a str,
                values that are not bytes, or a timestamp that is not an int64; nothing is written.
            BackendUnavailable: the backend cannot be reached or refused the write; nothing is written.
        """

    @abc.abstractmethod
    def read(self, view: str, keys: Sequence[str]) -> list[OnlineRow | None]:
        """The stored row of every key, in the order of ``keys`` (None where there is none).

        ``keys`` may repeat a key; each position gets the row. The rows returned are new objects.

        Raises:
            BackendUnavailable: the backend cannot be reached.
        """

    @abc.abstractmethod
    def delete_view(self, view: str) -> int:
        """Remove every row of ``view``; returns how many there were.

        Raises:
            BackendUnavailable: the backend cannot be reached.
        """

    @abc.abstractmethod
    def count(self, view: str) -> int:
        """How many keys ``view`` holds.

        Raises:
            BackendUnavailable: the backend cannot be reached.
        """

    @abc.abstractmethod
    def info(self) -> dict[str, Any]:
        """``backend`` (its name), ``uri`` and what it holds, for ``shipyard store info``.

        Raises:
            BackendUnavailable: the backend cannot be reached.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. The default does nothing."""
