"""factory_boy factories for alerting."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from console.notifications.models import AlertChannel, Silence


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertChannel

    name = factory.Sequence(lambda n: f"channel-{n}")
    type = "webhook"
    target = "http://127.0.0.1:9/hook"
    match_teams = factory.LazyFunction(list)
    match_environments = factory.LazyFunction(list)
    match_services = factory.LazyFunction(list)
    match_kinds = factory.LazyFunction(list)


class SilenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Silence

    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    reason = "planned maintenance CHG-1"
