"""notify(): routing, de-duplication, silences, recovery; resolve(); channels_for()."""

from __future__ import annotations

import pytest
from django.utils import timezone

from console.notifications import dispatch
from console.notifications.models import Alert, Delivery
from tests.factories import ServiceFactory
from tests.notifications.conftest import event
from tests.notifications.factories import ChannelFactory, SilenceFactory

pytestmark = pytest.mark.django_db


def routed_to(alert: Alert) -> set[str]:
    return set(alert.deliveries.values_list("channel_name", flat=True))


def test_routing_by_team_environment_service_and_kind():
    # given channels with different match rules and a search-team production service
    notes = ServiceFactory(name="notes", team="search", environment="production")
    ChannelFactory(name="all")
    ChannelFactory(name="search-team", match_teams=["search"])
    ChannelFactory(name="payments-team", match_teams=["payments"])
    ChannelFactory(name="staging-only", match_environments=["staging"])
    ChannelFactory(name="notes-only", match_services=["notes", "wiki"])
    ChannelFactory(name="budgets-only", match_kinds=["budget"])
    ChannelFactory(name="switched-off", enabled=False)
    # when it goes down
    alert = dispatch.notify(event(notes))
    # then exactly the channels whose rules all match get a delivery
    assert routed_to(alert) == {"all", "search-team", "notes-only"}
    assert alert.team == "search" and alert.environment == "production"


def test_event_team_and_environment_override_the_service():
    ChannelFactory(name="finops", match_teams=["finance"], match_kinds=["budget"])
    alert = dispatch.notify(
        event(None, kind="budget", severity="warning", dedupe_key="budget:7:90", team="finance")
    )
    assert routed_to(alert) == {"finops"}
    assert alert.service is None and alert.service_name == ""


def test_same_dedupe_key_is_sent_once_while_open():
    service = ServiceFactory()
    ChannelFactory(name="ops")
    first = dispatch.notify(event(service, body="first words"))
    again = dispatch.notify(event(service, body="still down", severity="warning"))
    assert again.pk == first.pk
    assert Delivery.objects.count() == 1
    again.refresh_from_db()
    assert again.event_count == 2 and again.body == "still down" and again.severity == "warning"


def test_after_resolve_the_same_key_opens_a_new_alert():
    service = ServiceFactory()
    ChannelFactory()
    first = dispatch.notify(event(service))
    dispatch.resolve(first.dedupe_key)
    second = dispatch.notify(event(service))
    assert second.pk != first.pk
    assert Delivery.objects.count() == 2
    first.refresh_from_db()
    assert first.resolved_at is not None and second.resolved_at is None


def test_resolve_without_an_open_alert_does_nothing():
    dispatch.resolve("incident:404")
    assert Alert.objects.count() == 0


def test_an_active_silence_holds_deliveries_but_records_the_alert():
    notes = ServiceFactory(name="notes", team="search")
    other = ServiceFactory(name="wiki", team="search")
    ChannelFactory()
    silence = SilenceFactory(match_service="notes")
    held = dispatch.notify(event(notes))
    sent = dispatch.notify(event(other))
    assert held.deliveries.count() == 0 and held.silenced_by == silence
    assert held.last_sent_at is None
    assert sent.deliveries.count() == 1


def test_silences_match_team_and_environment_and_expire():
    notes = ServiceFactory(team="search", environment="staging")
    ChannelFactory()
    SilenceFactory(match_team="search", match_environment="production")  # other environment

    SilenceFactory(ends_at=timezone.now())  # whole fleet, but already over
    alert = dispatch.notify(event(notes))
    assert alert.deliveries.count() == 1
    SilenceFactory(match_team="search", match_environment="staging")
    later = dispatch.notify(event(notes, dedupe_key="incident:other"))
    assert later.deliveries.count() == 0


def test_recovery_resolves_the_problem_and_tells_the_same_channels():
    notes = ServiceFactory(name="notes", team="search")
    ChannelFactory(name="search", match_teams=["search"])
    ChannelFactory(name="down-only", match_kinds=["down"])
    problem = dispatch.notify(event(notes, dedupe_key="incident:9"))
    ChannelFactory(name="added-later")
    recovery = dispatch.notify(
        event(
            notes,
            kind="recovered",
            severity="info",
            title="notes recovered",
            dedupe_key="incident:9:recovered",
            details={"resolves": "incident:9"},
        )
    )
    problem.refresh_from_db()
    assert problem.resolved_at is not None
    assert recovery.resolves == problem and recovery.resolved_at is not None
    assert routed_to(recovery) == {"search", "down-only"}
    assert recovery.deliveries.first().purpose == "recovered"


def test_recovery_may_reuse_the_problem_key():
    service = ServiceFactory()
    ChannelFactory()
    problem = dispatch.notify(event(service, dedupe_key="incident:5"))
    recovery = dispatch.notify(event(service, kind="recovered", dedupe_key="incident:5"))
    problem.refresh_from_db()
    assert problem.resolved_at is not None and recovery.resolves == problem


def test_recovery_of_nothing_or_of_a_silenced_problem_sends_nothing():
    service = ServiceFactory(name="notes")
    ChannelFactory()
    assert dispatch.notify(event(service, kind="recovered", details={"resolves": "x"})) is None
    silence = SilenceFactory(match_service="notes")
    dispatch.notify(event(service, dedupe_key="incident:3"))
    silence.delete()
    recovery = dispatch.notify(event(service, kind="recovered", details={"resolves": "incident:3"}))
    assert recovery is not None and recovery.deliveries.count() == 0
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 0


def test_channels_for_answers_whether_a_service_is_routed():
    notes = ServiceFactory(name="notes", team="search", environment="production")
    lonely = ServiceFactory(name="lonely", team="nobody", environment="production")
    ChannelFactory(name="search", match_teams=["search"])
    ChannelFactory(name="search-budgets", match_teams=["search"], match_kinds=["budget"])
    assert [c.name for c in dispatch.channels_for(notes)] == ["search", "search-budgets"]
    assert [c.name for c in dispatch.channels_for(notes, kind="down")] == ["search"]
    assert dispatch.channels_for(lonely) == []
