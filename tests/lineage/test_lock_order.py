"""Lock order between a push with parents and a link (issue 12, item 11).

A push locks its dataset's row and links its parents under the lineage graph lock; a
link takes the graph lock and then, inserting the edge, a key-share lock on both rows
(the foreign keys). Taken in opposite orders, the two deadlock on PostgreSQL. Here they
are lined up between their first and second lock every time, many times over.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from lineage import services as lineage_services
from lineage.models import LineageEdge
from lineage.services import link_datasets
from registry import services as registry_services
from registry.actors import Actor
from registry.models import Dataset
from registry.services import push_dataset
from registry.storage.local import LocalStorage

# The longest either side waits for the other to arrive or to block: a ceiling, not a
# guess (it arrives or blocks in milliseconds); passing it fails the test.
CEILING = 60.0


class Rendezvous:
    """Holds each side, once it has its first lock, until the other side has its own
    first lock too, or is waiting (in PostgreSQL) for a lock the first side holds.

    With the locks in one order only one side can hold a first lock: the other is then
    blocked on it, which pg_locks shows, and the holder goes on.
    """

    def __init__(self) -> None:
        self.arrived: set[str] = set()
        self.pids: dict[str, int] = {}
        self.condition = threading.Condition()

    def register(self, side: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pids[side] = int(cursor.fetchone()[0])

    def arrive(self, side: str, other: str) -> None:
        with self.condition:
            self.arrived.add(side)
            self.condition.notify_all()
        deadline = time.monotonic() + CEILING
        while time.monotonic() < deadline:
            with self.condition:
                if other in self.arrived:
                    return
                self.condition.wait(0.01)
            # (The other side may not have started yet: then it has no pid here.)
            pid = self.pids.get(other)
            if pid is not None and self._waiting_for_a_lock(pid):
                return
        raise AssertionError(f"{other} neither took its first lock nor waited for one")

    @staticmethod
    def _waiting_for_a_lock(pid: int) -> bool:
        # This thread's own connection, inside its transaction: reading pg_locks takes
        # no lock that could interfere.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
            return cursor.fetchone() is not None


@pytest.fixture
def lined_up(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Rendezvous]]:
    """Gates after the push's row lock and after the link's graph lock (its first)."""
    current: dict[str, Rendezvous] = {}
    role = threading.local()
    get_or_create = registry_services._get_or_create_dataset
    lock_graph = lineage_services.lock_graph

    def row_locked(**kwargs: Any) -> tuple[Dataset, bool]:
        result = get_or_create(**kwargs)
        if getattr(role, "side", None) == "push":
            current["r"].arrive("push", "link")
        return result

    def graph_locked() -> None:
        lock_graph()
        if getattr(role, "side", None) == "link" and not getattr(role, "gated", False):
            role.gated = True
            current["r"].arrive("link", "push")

    monkeypatch.setattr(registry_services, "_get_or_create_dataset", row_locked)
    monkeypatch.setattr(lineage_services, "lock_graph", graph_locked)

    def new() -> Rendezvous:
        current["r"] = Rendezvous()
        return current["r"]

    new.role = role  # type: ignore[attr-defined]
    yield new


def test_push_with_a_parent_and_a_link_racing_never_deadlock(
    transactional_db: None,
    lined_up: Callable[[], Rendezvous],
    make_file: Callable[..., Path],
    local_store: LocalStorage,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks and deadlock detection are PostgreSQL's")
    actor = Actor.for_cli()
    rounds = 12
    for _ in range(rounds):
        # X exists; a push of X's bytes again with parent P locks X's row, while a link
        # X -> Y needs a key-share lock on X's row under the graph lock.
        x_file = make_file()
        x, p, y = (
            push_dataset(path=path, source="s", actor=actor, storage=local_store).dataset
            for path in (x_file, make_file(), make_file())
        )
        errors = race(
            lined_up,
            push=functools.partial(
                push_dataset,
                path=x_file,
                source="s",
                actor=actor,
                storage=local_store,
                parents=[p.sha256],
            ),
            link=functools.partial(link_datasets, parent=x, child=y, actor=actor),
        )
        assert errors == [], errors
        assert LineageEdge.objects.filter(parent=p, child=x).exists()
        assert LineageEdge.objects.filter(parent=x, child=y).exists()
    assert LineageEdge.objects.count() == 2 * rounds


def race(
    lined_up: Callable[[], Rendezvous], *, push: Callable[[], object], link: Callable[[], object]
) -> list[BaseException]:
    """Run ``push`` and ``link`` in two threads, lined up; the errors they raised."""
    rendezvous = lined_up()
    role = lined_up.role  # type: ignore[attr-defined]
    errors: list[BaseException] = []

    def run(side: str, action: Callable[[], object]) -> None:
        role.side = side
        role.gated = False
        try:
            rendezvous.register(side)
            action()
        except BaseException as exc:
            errors.append(exc)
        finally:
            role.side = None
            connection.close()  # each thread has its own connection

    threads = [
        threading.Thread(target=run, args=("push", push)),
        threading.Thread(target=run, args=("link", link)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
