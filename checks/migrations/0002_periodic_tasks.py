"""Register the probe sweep (every 10 s) and the retention rollup (hourly) with django-celery-beat.

In the database, so an operator can change the intervals in the admin without a restart.
"""

import json

from django.db import migrations

SCHEDULES = [
    ("checks: probe sweep", "checks.sweep_task", 10),
    ("checks: roll up old probe results", "checks.rollup_results_task", 3600),
]


def register(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds in SCHEDULES:
        every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "interval": every, "enabled": True, "args": json.dumps([])},
        )


def unregister(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("checks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
