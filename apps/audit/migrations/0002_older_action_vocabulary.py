"""History actions take the older system's vocabulary (create, update, delete, cancel,
reactivate, login, logout, register) with content_type saying what was acted on."""

from django.db import migrations, models

# (old action, extra filter, new action), in order: a reactivation was stored as a confirmation.
FORWARD = [
    ("event_create", {}, "create"),
    ("event_update", {}, "update"),
    ("event_delete", {}, "delete"),
    ("booking_confirmed", {"details__reason": "reactivated"}, "reactivate"),
    ("booking_confirmed", {}, "create"),
    ("booking_cancelled", {}, "cancel"),
]
BACKWARD = [
    ("create", {"content_type__model": "event"}, "event_create"),
    ("update", {"content_type__model": "event"}, "event_update"),
    ("delete", {"content_type__model": "event"}, "event_delete"),
    ("create", {}, "booking_confirmed"),
    ("reactivate", {}, "booking_confirmed"),
    ("cancel", {}, "booking_cancelled"),
]


def _rename(apps, steps) -> None:
    points = apps.get_model("audit", "HistoryPoint").objects
    for old, where, new in steps:
        points.filter(action=old, **where).update(action=new)


def forwards(apps, schema_editor) -> None:
    _rename(apps, FORWARD)


def backwards(apps, schema_editor) -> None:
    _rename(apps, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterField(
            model_name="historypoint",
            name="action",
            field=models.CharField(
                choices=[
                    ("create", "Create"),
                    ("update", "Update"),
                    ("delete", "Delete"),
                    ("cancel", "Cancel"),
                    ("reactivate", "Reactivate"),
                    ("login", "Login"),
                    ("logout", "Logout"),
                    ("register", "Register"),
                    ("booking_request", "Booking Request"),
                    ("booking_rejected", "Booking Rejected"),
                    ("booking_waitlisted", "Booking Waitlisted"),
                    ("booking_promoted", "Booking Promoted"),
                    ("waitlist_left", "Waitlist Left"),
                    ("capacity_changed", "Capacity Changed"),
                    ("webhook_subscription", "Webhook Subscription"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
