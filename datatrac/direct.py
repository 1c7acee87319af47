"""The direct backend: this machine's registry, through the services, in this process.

Django is imported (and set up with datatrac_site.settings, unless something already
configured it) only when a DirectClient is made. Every call acts as one Actor (the CLI
identity, DATATRAC_USER, by default) and turns the services' registry.errors into
datatrac.errors, so callers see the same errors as from the remote backend.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datatrac import errors
from datatrac.client import Client, Direction, Progress
from datatrac.records import (
    DatasetDetail,
    DatasetInfo,
    DeleteInfo,
    DownloadInfo,
    EdgeInfo,
    LineageInfo,
    LinkInfo,
    PurgeInfo,
    PushInfo,
    TokenInfo,
    WhoAmI,
)

if TYPE_CHECKING:
    from registry.actors import Actor
    from registry.models import Dataset
    from tokens.models import AccessToken

# Rows a listing reads a query.
LIST_CHUNK = 1000


def setup_django() -> None:
    """Configure Django from the environment (datatrac_site.settings) once."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datatrac_site.settings")
    from django.apps import apps

    if not apps.ready:
        import django

        django.setup()


class DirectClient(Client):
    """The registry this process's Django settings name (DATABASE_URL, the store).

    ``actor`` is who acts (default: the CLI identity, DATATRAC_USER); ``prepare`` makes
    sure the database is reachable and migrated first (the embedded one migrates itself).
    """

    def __init__(self, *, actor: Actor | None = None, prepare: bool = True) -> None:
        self.where = "direct"
        setup_django()
        if prepare:
            from registry.cli import ensure_database_ready

            with translated():
                ensure_database_ready(lambda line: sys.stderr.write(f"{line}\n"))
        self._actor = actor

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            from registry.actors import Actor

            with translated():
                self._actor = Actor.for_cli()
        return self._actor

    def _resolve(self, ref: str) -> Dataset:
        from registry.reads import show_dataset

        return show_dataset(actor=self.actor, ref=ref)

    # --- reads ------------------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        from tokens.services import SCOPE_PERMISSIONS

        actor = self.actor
        known = sorted(SCOPE_PERMISSIONS["admin"])
        return WhoAmI(
            username=actor.name,
            authenticated=actor.user is not None,
            via="direct",
            token_id=None,
            scope=None,
            permissions=tuple(p for p in known if actor.has_perm(p)),
        )

    def list_datasets(
        self,
        *,
        query: str = "",
        deleted: bool = False,
        limit: int | None = None,
        after: str | None = None,
    ) -> Iterator[DatasetInfo]:
        from registry.actors import require_view_permission
        from registry.presenters import dataset_as_dict

        with translated():
            require_view_permission(actor=self.actor)
            pivot = self._resolve(after) if after else None
            chunks = self._listing(query, deleted).newest_first_chunks(
                chunk_size=LIST_CHUNK, after=pivot, limit=limit
            )
            for chunk in chunks:
                for dataset in chunk:
                    yield DatasetInfo.from_dict(dataset_as_dict(dataset))

    def _listing(self, query: str, deleted: bool) -> Any:
        from registry.models import Dataset

        datasets = Dataset.objects.all() if deleted else Dataset.objects.available()
        return datasets.search(query)

    def more_after(self, *, last: DatasetInfo, query: str, deleted: bool, cap: int) -> int:
        from registry.models import Dataset

        with translated():
            pivot = Dataset.objects.get(sha256=last.sha256)
            return int(self._listing(query, deleted).count_older_than(pivot, cap=cap))

    def get(self, ref: str) -> DatasetDetail:
        from lineage.reads import direct_links
        from registry.presenters import dataset_as_dict

        with translated():
            dataset = self._resolve(ref)
            parents, children = direct_links(actor=self.actor, dataset=dataset)
            return DatasetDetail(
                dataset=DatasetInfo.from_dict(dataset_as_dict(dataset)),
                parents=tuple(
                    EdgeInfo(sha256=e.parent.sha256, name=e.parent.name, note=e.note)
                    for e in parents
                ),
                children=tuple(
                    EdgeInfo(sha256=e.child.sha256, name=e.child.name, note=e.note)
                    for e in children
                ),
            )

    def lineage(self, ref: str, *, depth: int = 3, direction: Direction = "both") -> LineageInfo:
        from lineage.presenters import graph_as_dict
        from lineage.reads import explore_lineage

        with translated():
            graph = explore_lineage(actor=self.actor, dataset=self._resolve(ref), depth=depth)
            return LineageInfo.from_dict(graph_as_dict(graph, direction))

    # --- lineage ----------------------------------------------------------------------

    def link(self, parent: str, child: str, *, note: str = "") -> LinkInfo:
        from lineage.services import link_datasets
        from registry.models import Dataset

        with translated():
            # The link service checks (and audits) its own permission, naming the child.
            p, c = Dataset.objects.resolve(parent), Dataset.objects.resolve(child)
            result = link_datasets(parent=p, child=c, actor=self.actor, note=note)
            return LinkInfo(parent=p.sha256, child=c.sha256, created=result.created)

    def unlink(self, parent: str, child: str) -> LinkInfo:
        from lineage.services import unlink_datasets
        from registry.models import Dataset

        with translated():
            p, c = Dataset.objects.resolve(parent), Dataset.objects.resolve(child)
            if not unlink_datasets(parent=p, child=c, actor=self.actor):
                raise errors.NotFound(f"{p.short_hash} is not a parent of {c.short_hash}")
            return LinkInfo(parent=p.sha256, child=c.sha256, created=False)

    # --- bytes ------------------------------------------------------------------------

    def push(
        self,
        path: Path,
        *,
        source: str,
        name: str | None = None,
        description: str = "",
        parents: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> PushInfo:
        from registry.presenters import dataset_as_dict
        from registry.services import check_readable_file, push_dataset
        from registry.storage import get_storage

        with translated():
            check_readable_file(path)
            with get_storage() as storage:
                result = push_dataset(
                    path=path,
                    source=source,
                    name=name,
                    description=description,
                    parents=list(parents),
                    actor=self.actor,
                    storage=storage,
                    progress=progress,
                )
            return PushInfo(
                dataset=DatasetInfo.from_dict(dataset_as_dict(result.dataset)),
                outcome=result.outcome,
                uploaded=result.uploaded,
            )

    def output_path(self, ref: str, output: str | None) -> tuple[Path, bool]:
        from registry.models import Dataset
        from registry.services import resolve_output_path

        with translated():
            return resolve_output_path(Dataset.objects.resolve(ref), output, force=True)

    def download(
        self,
        ref: str,
        *,
        output: str | None = None,
        force: bool = False,
        progress: Progress | None = None,
    ) -> DownloadInfo:
        from registry.models import Dataset
        from registry.presenters import dataset_as_dict
        from registry.services import download_dataset
        from registry.storage import get_storage

        with translated():
            dataset = Dataset.objects.resolve(ref)
            with get_storage() as storage:
                result = download_dataset(
                    dataset=dataset,
                    actor=self.actor,
                    storage=storage,
                    output=output,
                    force=force,
                    progress=progress,
                )
            return DownloadInfo(
                dataset=DatasetInfo.from_dict(dataset_as_dict(dataset)),
                path=result.path,
                from_cache=result.from_cache,
                replaced=result.replaced,
            )

    def delete_local(self, ref: str) -> tuple[DatasetInfo, bool]:
        from registry.models import Dataset
        from registry.presenters import dataset_as_dict
        from registry.services import delete_local_copy

        with translated():
            dataset = Dataset.objects.resolve(ref)
            removed = delete_local_copy(dataset=dataset)
            return DatasetInfo.from_dict(dataset_as_dict(dataset)), removed

    # --- administration ---------------------------------------------------------------

    def delete(self, ref: str, *, force: bool = False) -> DeleteInfo:
        from registry.models import Dataset
        from registry.presenters import dataset_as_dict
        from registry.services import delete_dataset
        from registry.storage import get_storage

        with translated():
            dataset = Dataset.objects.resolve(ref)
            with get_storage() as storage:
                result = delete_dataset(
                    dataset=dataset, actor=self.actor, storage=storage, force=force
                )
            dataset.refresh_from_db()
            return DeleteInfo(
                dataset=DatasetInfo.from_dict(dataset_as_dict(dataset)),
                object_was_missing=result.object_was_missing,
            )

    def purge(self, ref: str) -> PurgeInfo:
        from registry.models import Dataset
        from registry.services import purge_dataset
        from registry.storage import get_storage

        with translated():
            dataset = Dataset.objects.resolve(ref)
            sha256, name = dataset.sha256, dataset.name
            with get_storage() as storage:
                result = purge_dataset(dataset=dataset, actor=self.actor, storage=storage)
            return PurgeInfo(
                sha256=sha256,
                name=name,
                edges_removed=result.edges_removed,
                downloads_removed=result.downloads_removed,
            )

    def restore(self, ref: str) -> DatasetInfo:
        from registry.models import Dataset
        from registry.presenters import dataset_as_dict
        from registry.services import restore_dataset
        from registry.storage import get_storage

        with translated():
            dataset = Dataset.objects.resolve(ref)
            with get_storage() as storage:
                restored = restore_dataset(dataset=dataset, actor=self.actor, storage=storage)
            return DatasetInfo.from_dict(dataset_as_dict(restored))

    # --- tokens -----------------------------------------------------------------------

    def create_token(self, name: str, *, scope: str = "read", days: int = 90) -> TokenInfo:
        from datetime import timedelta

        from tokens.services import create_token

        with translated():
            new = create_token(
                actor=self.actor, name=name, scope=scope, lifetime=timedelta(days=days)
            )
            return _token(new.token, secret=new.secret)

    def list_tokens(self) -> list[TokenInfo]:
        from tokens.services import tokens_of

        with translated():
            tokens = tokens_of(actor=self.actor).order_by("-created_at", "-id")
            return [_token(t) for t in tokens]

    def revoke_token(self, token_id: int) -> bool:
        from tokens.services import own_token, revoke_token

        with translated():
            token = own_token(actor=self.actor, token_id=token_id)
            if token is None:
                raise errors.NotFound(f"you have no token {token_id}")
            return revoke_token(actor=self.actor, token=token)


def _token(token: AccessToken, *, secret: str | None = None) -> TokenInfo:
    return TokenInfo(
        id=token.pk,
        name=token.name,
        scope=token.scope,
        created_at=token.created_at.isoformat(),
        expires_at=token.expires_at.isoformat(),
        last_used_at=token.last_used_at.isoformat() if token.last_used_at else None,
        revoked_at=token.revoked_at.isoformat() if token.revoked_at else None,
        secret=secret,
    )


def _translation() -> list[tuple[type[Exception], Callable[[str], errors.DataTracError]]]:
    from registry import errors as domain
    from tokens.errors import InvalidTokenRequest

    return [
        (domain.PermissionDenied, errors.PermissionDenied),
        (domain.AuthenticationFailed, errors.AuthenticationFailed),
        (domain.UnknownDataset, errors.NotFound),
        (domain.AmbiguousHash, errors.Ambiguous),
        (domain.InvalidHash, errors.InvalidRef),
        (domain.BadPath, errors.InvalidRef),
        (InvalidTokenRequest, errors.InvalidRef),
        (domain.LineageError, errors.Conflict),
        (domain.ConfirmationRequired, errors.Conflict),
        (domain.DeleteRefused, errors.Conflict),
        (domain.IntegrityFailure, errors.IntegrityError),
        (domain.StoreError, errors.ServerError),
        (domain.DataTracError, errors.DataTracError),
    ]


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """The services' errors (and a failing database) as datatrac.errors."""
    from django.db import DatabaseError

    from registry import errors as domain

    try:
        yield
    except errors.DataTracError:
        raise
    except domain.DataTracError as exc:
        for cls, ours in _translation():
            if isinstance(exc, cls):
                raise ours(str(exc)) from exc
        raise
    except DatabaseError as exc:
        from registry.cli import explain_database_error

        raise errors.DataTracError(str(explain_database_error(exc))) from exc
