# The withdrawn reason and the hold caps' reasons were added side by side: one history again,
# with every reason among the choices.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0007_reason_withdrawn'),
        ('bookings', '0008_merge_hold_caps_decided_by'),
    ]

    operations = [
        migrations.AlterField(
            model_name='bookingrequest',
            name='reason',
            field=models.CharField(blank=True, choices=[('booked', 'Booked'), ('reactivated', 'Reactivated'), ('cancelled', 'Cancelled'), ('promoted_from_waitlist', 'Promoted'), ('waitlisted', 'Waitlisted'), ('left_waitlist', 'Left Waitlist'), ('capacity_changed', 'Capacity Changed'), ('event_cancelled', 'Event Cancelled'), ('sold_out', 'Sold Out'), ('waitlist_full', 'Waitlist Full'), ('duplicate', 'Duplicate'), ('already_waitlisted', 'Already Waitlisted'), ('event_closed', 'Event Closed'), ('booking_not_active', 'Not Active'), ('booking_already_active', 'Already Active'), ('not_waitlisted', 'Not Waitlisted'), ('capacity_below_seats_taken', 'Capacity Below Seats Taken'), ('event_has_bookings', 'Event Has Bookings'), ('internal_error', 'Internal Error'), ('seats_changed', 'Seats Changed'), ('not_enough_seats', 'Not Enough Seats'), ('too_many_seats', 'Too Many Seats'), ('held', 'Held'), ('hold_confirmed', 'Hold Confirmed'), ('hold_released', 'Hold Released'), ('hold_expired', 'Hold Expired'), ('already_held', 'Already Held'), ('hold_not_live', 'Not Held'), ('hold_limit_reached', 'Hold Limit Reached'), ('hold_cooldown', 'Hold Cooldown'), ('withdrawn', 'Withdrawn')], default='', max_length=32),
        ),
    ]
