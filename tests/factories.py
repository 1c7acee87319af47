"""factory-boy factories for the registry and lineage models."""

from __future__ import annotations

import hashlib
import os

import factory
from django.contrib.auth import get_user_model

from lineage.models import LineageEdge
from registry.models import Dataset, DownloadRecord


def random_sha256() -> str:
    return hashlib.sha256(os.urandom(32)).hexdigest()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def save_password(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()


class DatasetFactory(factory.django.DjangoModelFactory):
    """A registry row. Its bytes are NOT in any store: use `push` helpers for that."""

    class Meta:
        model = Dataset

    sha256 = factory.LazyFunction(random_sha256)
    name = factory.Sequence(lambda n: f"dataset-{n}.csv")
    size = factory.Faker("pyint", min_value=0, max_value=10_000_000)
    source = factory.Faker("url")
    description = factory.Faker("sentence")
    storage_location = factory.LazyAttribute(lambda d: f"file:///store/{d.sha256[:2]}/{d.sha256}")
    pushed_by = factory.Faker("user_name")


class LineageEdgeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LineageEdge

    parent = factory.SubFactory(DatasetFactory)
    child = factory.SubFactory(DatasetFactory)
    created_by = "tester"


class DownloadRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DownloadRecord

    dataset = factory.SubFactory(DatasetFactory)
    downloaded_by = "tester"


def member_of(role: str, username: str | None = None, **kwargs: object) -> object:
    """A user (made with UserFactory) in one of the role groups of registry.roles.

    The groups come from a data migration; a transactional test's flush removes them,
    so they are made again here when missing.
    """
    from django.apps import apps
    from django.contrib.auth.models import Group

    from registry.roles import create_roles

    if not Group.objects.filter(name=role).exists():
        create_roles(apps)
    user = UserFactory(**({"username": username} if username else {}), **kwargs)
    user.groups.add(Group.objects.get(name=role))
    # A fresh instance: has_perm caches permissions on the object it was first asked.
    return type(user).objects.get(pk=user.pk)
