"""Register the scaling sync (every 15 minutes) with django-celery-beat.

In the database, so an operator can change the interval in the admin without a restart.
"""

import json

from django.db import migrations

NAME = "fleet: sync scaling settings from clouds"
TASK = "fleet.sync_scaling_task"
EVERY_MINUTES = 15


def register(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=EVERY_MINUTES, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={"task": TASK, "interval": every, "enabled": True, "args": json.dumps([])},
    )


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0002_cloud_state"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
