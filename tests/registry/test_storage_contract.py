"""The Storage contract (registry/storage/base.py), run against every store.

The same behaviours for ``file://`` and for ``ssh://`` on a real loopback sshd: a command
that works on one store works unchanged on the other.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from registry.errors import IntegrityFailure, ObjectMissing
from registry.storage import get_storage
from registry.storage.base import TEMP_SUFFIX, Storage, object_key


@dataclass
class StoreUnderTest:
    storage: Storage
    root: Path  # where the store keeps its objects on this machine's disk

    def temporaries(self) -> list[Path]:
        return sorted(self.root.glob(f"*/*/.*{TEMP_SUFFIX}"))


@pytest.fixture(params=["file", pytest.param("ssh", marks=pytest.mark.ssh)])
def store(request: pytest.FixtureRequest, datatrac_dirs: Path) -> Iterator[StoreUnderTest]:
    if request.param == "ssh":
        root = request.getfixturevalue("ssh_settings").base
    else:
        root = datatrac_dirs / "store"
    with get_storage() as storage:
        yield StoreUnderTest(storage, root)


def file_with(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    path = tmp_path / f"src-{hashlib.sha256(data).hexdigest()[:12]}"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_put_then_open_exists_and_stat(store: StoreUnderTest, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    path, sha = file_with(tmp_path, data)
    assert not store.storage.exists(sha)

    store.storage.put(sha, path)

    assert store.storage.exists(sha)
    assert store.storage.stat(sha) == len(data)
    with store.storage.open(sha) as reader:
        assert reader.read() == data
    assert (store.root / object_key(sha)).read_bytes() == data
    assert store.temporaries() == []


def test_put_reports_progress_for_every_byte(store: StoreUnderTest, tmp_path: Path) -> None:
    path, sha = file_with(tmp_path, os.urandom(2_500_000))
    seen: list[int] = []

    store.storage.put(sha, path, progress=seen.append)

    assert sum(seen) == 2_500_000


def test_put_twice_leaves_one_object(store: StoreUnderTest, tmp_path: Path) -> None:
    path, sha = file_with(tmp_path, b"twice")

    store.storage.put(sha, path)
    store.storage.put(sha, path)

    assert list(store.storage.iter_objects()) == [sha]


def test_put_of_bytes_that_do_not_match_the_hash_stores_nothing(
    store: StoreUnderTest, tmp_path: Path
) -> None:
    path, _ = file_with(tmp_path, b"the file now")
    stale_hash = hashlib.sha256(b"the file when it was hashed").hexdigest()

    with pytest.raises(IntegrityFailure):
        store.storage.put(stale_hash, path)

    assert not store.storage.exists(stale_hash)
    assert store.temporaries() == []


def test_delete_removes_and_a_second_delete_reports_missing(
    store: StoreUnderTest, tmp_path: Path
) -> None:
    path, sha = file_with(tmp_path, b"delete me")
    store.storage.put(sha, path)

    store.storage.delete(sha)

    assert not store.storage.exists(sha)
    with pytest.raises(ObjectMissing):
        store.storage.delete(sha)


def test_missing_objects_raise_object_missing(store: StoreUnderTest) -> None:
    sha = hashlib.sha256(b"absent").hexdigest()

    with pytest.raises(ObjectMissing):
        store.storage.open(sha)
    with pytest.raises(ObjectMissing):
        store.storage.stat(sha)
    with pytest.raises(ObjectMissing):
        store.storage.verify(sha)
    with pytest.raises(ObjectMissing):
        store.storage.age(sha)


def test_verify_detects_corruption(store: StoreUnderTest, tmp_path: Path) -> None:
    path, sha = file_with(tmp_path, b"precious bytes" * 1000)
    store.storage.put(sha, path)
    assert store.storage.verify(sha)

    stored = store.root / object_key(sha)
    stored.chmod(0o644)
    stored.write_bytes(b"Precious bytes" + b"precious bytes" * 999)

    assert not store.storage.verify(sha)


def test_iter_objects_skips_temporaries(store: StoreUnderTest, tmp_path: Path) -> None:
    shas = set()
    for i in range(3):
        path, sha = file_with(tmp_path, f"object {i}".encode())
        store.storage.put(sha, path)
        shas.add(sha)
    some = next(iter(shas))
    (store.root / object_key(some)).with_name(f".{some}.feedbeef{TEMP_SUFFIX}").write_bytes(b"")

    assert set(store.storage.iter_objects()) == shas


def test_sweep_removes_stale_temporaries_only(store: StoreUnderTest, tmp_path: Path) -> None:
    path, sha = file_with(tmp_path, b"kept")
    store.storage.put(sha, path)
    final = store.root / object_key(sha)
    stale = final.with_name(f".{sha}.aaaaaaaaaaaa{TEMP_SUFFIX}")
    fresh = final.with_name(f".{sha}.bbbbbbbbbbbb{TEMP_SUFFIX}")
    stale.write_bytes(b"")
    fresh.write_bytes(b"")
    old = time.time() - 7200
    os.utime(stale, (old, old))

    removed = store.storage.sweep_temporaries(older_than=timedelta(hours=1))

    assert removed == [str(stale.relative_to(store.root))]
    assert fresh.exists()
    assert final.exists()


def test_age_of_a_fresh_object_is_small(store: StoreUnderTest, tmp_path: Path) -> None:
    path, sha = file_with(tmp_path, b"young")
    store.storage.put(sha, path)

    assert store.storage.age(sha) < timedelta(minutes=1)


def test_put_parts_stores_the_parts_joined_in_order(store: StoreUnderTest, tmp_path: Path) -> None:
    chunks = [os.urandom(200_000), os.urandom(1), os.urandom(300_000)]
    parts = []
    for i, chunk in enumerate(chunks):
        parts.append(tmp_path / f"{i}.part")
        parts[-1].write_bytes(chunk)
    whole = b"".join(chunks)
    sha = hashlib.sha256(whole).hexdigest()

    store.storage.put_parts(sha, parts)

    assert store.storage.exists(sha)
    assert (store.root / object_key(sha)).read_bytes() == whole
    assert store.temporaries() == []
    assert [p.read_bytes() for p in parts] == chunks  # the parts are left as they were


def test_put_parts_whose_join_does_not_hash_right_stores_nothing(
    store: StoreUnderTest, tmp_path: Path
) -> None:
    good = [os.urandom(100_000), os.urandom(100_000)]
    sha = hashlib.sha256(b"".join(good)).hexdigest()
    (tmp_path / "upload").mkdir()
    parts = [tmp_path / "upload" / "1.part", tmp_path / "upload" / "2.part"]
    parts[0].write_bytes(good[0])
    parts[1].write_bytes(os.urandom(100_000))  # not the second part announced

    with pytest.raises(IntegrityFailure):
        store.storage.put_parts(sha, parts)

    assert not store.storage.exists(sha)
    assert not (store.root / object_key(sha)).exists()
    assert store.temporaries() == []
    # the parts stay (for a retry) and nothing else is left beside them
    assert sorted(p.name for p in (tmp_path / "upload").iterdir()) == ["1.part", "2.part"]


def test_put_parts_in_the_wrong_order_stores_nothing(store: StoreUnderTest, tmp_path: Path) -> None:
    chunks = [os.urandom(50_000), os.urandom(50_000)]
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    parts = [tmp_path / "1.part", tmp_path / "2.part"]
    for part, chunk in zip(parts, chunks, strict=True):
        part.write_bytes(chunk)

    with pytest.raises(IntegrityFailure):
        store.storage.put_parts(sha, list(reversed(parts)))

    assert not store.storage.exists(sha)
    assert store.temporaries() == []
