"""factory_boy factories for the registry."""

from __future__ import annotations

import factory

from fleet.models import CloudAccount, Dependency, Service


class CloudAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CloudAccount
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"gcp-{n}")
    provider = "gcp"
    project = "my-project-123"
    region = "us-central1"


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    name = factory.Sequence(lambda n: f"svc-{n:05d}")
    kind = "mcp_server"
    url = factory.LazyAttribute(lambda o: f"https://{o.name}.example.com/mcp")
    transport = "streamable-http"
    environment = "production"
    team = "platform"
    tags = factory.LazyFunction(list)


class DependencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dependency
