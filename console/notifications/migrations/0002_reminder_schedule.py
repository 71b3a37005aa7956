"""Register the reminder run with django-celery-beat: every minute, `send_reminders_task`.

The task itself decides which alerts are due (ALERT_REMINDER_MINUTES), so the schedule stays fixed.
"""

from django.db import migrations

TASK_NAME = "alerts: send reminders"


def add_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "notifications.send_reminders_task",
            "interval": every_minute,
            "enabled": True,
            "description": "Re-send open alerts every ALERT_REMINDER_MINUTES until resolved.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
