"""Property-based tests (hypothesis) of the registry's invariants.

- Hash prefix resolution returns the unique match, or says why not, like git.
- Any sequence of push / link / unlink / delete / restore / gc, against the real local
  store and database, never makes a cycle, a row without bytes or bytes without a row.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from lineage.models import LineageEdge
from lineage.services import link_datasets, unlink_datasets
from registry.actors import Actor
from registry.errors import (
    AmbiguousHash,
    ConfirmationRequired,
    InvalidHash,
    LineageError,
    UnknownDataset,
)
from registry.integrity import collect_garbage, verify_datasets
from registry.models import Dataset
from registry.services import delete_dataset, push_dataset
from registry.storage.local import LocalStorage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Rollback(Exception):
    """Undo one hypothesis example's rows."""


# --- hash prefix resolution ------------------------------------------------------------

# Few distinct leading characters, so generated hashes share long prefixes.
hashes = st.lists(
    st.text(alphabet="0a", min_size=1, max_size=12).map(lambda p: (p + "f" * 64)[:64]),
    min_size=0,
    max_size=8,
    unique=True,
)


@FAST
@given(stored=hashes, data=st.data())
def test_prefix_resolution_finds_the_unique_match_or_says_why(
    stored: list[str], data: st.DataObject
) -> None:
    if stored and data.draw(st.booleans()):
        target = data.draw(st.sampled_from(stored))
        ref = target[: data.draw(st.integers(min_value=6, max_value=64))]
    else:
        ref = data.draw(st.text(alphabet="0af", min_size=6, max_size=16))
    # Case and surrounding whitespace do not matter, as when a hash is pasted.
    ref = data.draw(st.sampled_from([ref, ref.upper(), f" {ref}\n"]))
    prefix = ref.strip().lower()
    expected = [h for h in stored if h.startswith(prefix)]
    try:
        with transaction.atomic():
            Dataset.objects.bulk_create(
                Dataset(sha256=h, name=f"d{i}", size=0, storage_location="x")
                for i, h in enumerate(stored)
            )
            if len(expected) == 1:
                assert Dataset.objects.resolve(ref).sha256 == expected[0]
            elif not expected:
                with pytest.raises(UnknownDataset):
                    Dataset.objects.resolve(ref)
            else:
                with pytest.raises(AmbiguousHash) as ambiguous:
                    Dataset.objects.resolve(ref)
                assert [c.split()[0] for c in ambiguous.value.candidates] == [
                    h[:12] for h in sorted(expected)
                ]
            raise Rollback
    except Rollback:
        pass


@FAST
@given(ref=st.text(min_size=0, max_size=80))
def test_anything_but_6_to_64_hex_digits_is_refused_before_any_query(
    ref: str, django_assert_num_queries
) -> None:
    value = ref.strip().lower()
    valid = 6 <= len(value) <= 64 and all(c in "0123456789abcdef" for c in value)
    if valid:
        return
    with django_assert_num_queries(0), pytest.raises(InvalidHash):
        Dataset.objects.resolve(ref)


# --- the registry as a state machine ----------------------------------------------------

CONTENTS = [f"content {i}\n".encode() * (i + 1) for i in range(5)]


class RegistryMachine(RuleBasedStateMachine):
    """Random registry actions against the real local store and database.

    A model (which contents are registered, available, linked) predicts what each
    action must do; the invariants compare the database and the store after each step.
    """

    datasets = Bundle("datasets")
    #: The administrator every action runs as (made once per test: hashing its password
    #: for every example would dominate the run time).
    admin: Actor

    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.workdir = Path(tempfile.mkdtemp(prefix="dt-machine-"))
        self.store = LocalStorage(self.workdir / "store")
        self.files = []
        for i, content in enumerate(CONTENTS):
            path = self.workdir / f"file-{i}.csv"
            path.write_bytes(content)
            self.files.append(path)
        self.actor = self.admin
        self.available: set[str] = set()
        self.edges: set[tuple[str, str]] = set()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _reaches(self, start: str, goal: str) -> bool:
        todo, seen = [start], set()
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(c for p, c in self.edges if p == node)
        return False

    @initialize(target=datasets, index=st.integers(0, len(CONTENTS) - 1))
    def first_push(self, index: int) -> str:
        return self.push(index)

    @rule(target=datasets, index=st.integers(0, len(CONTENTS) - 1))
    def push(self, index: int) -> str:
        """Push a file: new content, known content, or a tombstone's content (restore)."""
        result = push_dataset(
            path=self.files[index], source="s", actor=self.actor, storage=self.store
        )
        sha256 = result.dataset.sha256
        was_available = sha256 in self.available
        assert result.uploaded == (not was_available)
        self.available.add(sha256)
        return sha256

    @rule(parent=datasets, child=datasets, note=st.text(max_size=20))
    def link(self, parent: str, child: str, note: str) -> None:
        rows = Dataset.objects.in_bulk([parent, child], field_name="sha256")
        closes_cycle = parent == child or self._reaches(child, parent)
        try:
            result = link_datasets(
                parent=rows[parent], child=rows[child], actor=self.actor, note=note
            )
        except LineageError:
            assert closes_cycle
            return
        assert not closes_cycle
        assert result.created == ((parent, child) not in self.edges)
        self.edges.add((parent, child))

    @rule(parent=datasets, child=datasets)
    def unlink(self, parent: str, child: str) -> None:
        rows = Dataset.objects.in_bulk([parent, child], field_name="sha256")
        removed = unlink_datasets(parent=rows[parent], child=rows[child], actor=self.actor)
        assert removed == ((parent, child) in self.edges)
        self.edges.discard((parent, child))

    @rule(victim=datasets, force=st.booleans())
    def delete(self, victim: str, force: bool) -> None:
        dataset = Dataset.objects.get(sha256=victim)
        living_children = any(p == victim and c in self.available for p, c in self.edges)
        try:
            delete_dataset(dataset=dataset, actor=self.actor, storage=self.store, force=force)
        except ConfirmationRequired:
            assert victim not in self.available or (living_children and not force)
            return
        assert victim in self.available
        self.available.discard(victim)

    @rule()
    def gc(self) -> None:
        """gc with no grace at all still never removes a referenced object."""
        report = collect_garbage(
            storage=self.store, grace=timedelta(0), dry_run=False, actor=self.actor
        )
        assert report.removed == []  # nothing in this machine leaves unreferenced bytes

    @rule()
    def verify(self) -> None:
        report = verify_datasets(actor=self.actor, storage=self.store, resume=False)
        assert report.clean
        assert {c.sha256 for c in report.checks} == self.available

    @invariant()
    def no_cycle(self) -> None:
        stored_edges = {
            (p, c) for p, c in LineageEdge.objects.values_list("parent__sha256", "child__sha256")
        }
        assert stored_edges == self.edges
        for parent, child in stored_edges:
            assert not self._reaches(child, parent)

    @invariant()
    def rows_and_bytes_agree(self) -> None:
        available = set(Dataset.objects.available().values_list("sha256", flat=True))
        assert available == self.available
        # No row without bytes, no bytes without a row.
        assert set(self.store.iter_objects()) == available
        # No temporary is ever left behind by a finished action.
        assert self.store.sweep_temporaries(older_than=timedelta(0), dry_run=True) == []


def test_random_registry_actions_keep_every_invariant(db: None) -> None:
    user = UserFactory(username="machine-admin", is_superuser=True, is_staff=True)
    RegistryMachine.admin = Actor(name=user.username, user=user, origin="test")
    run_state_machine_as_test(
        RegistryMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
