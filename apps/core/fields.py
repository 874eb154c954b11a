"""Serializer fields shared by the apps."""

from rest_framework import serializers

from apps.core.filters import MAX_ID


class IdField(serializers.IntegerField):
    """An integer id. A float (``1.5``, even ``1.0``), a boolean, non-ASCII digits or any other
    non-integer is refused with 400 instead of being truncated to an id; a string of ASCII
    digits (``"7"``) is accepted, as form-style clients send it."""

    default_error_messages = {
        **serializers.IntegerField.default_error_messages,
        "invalid": "An integer id is required.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, str) and not (data.isascii() and data.isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only: DRF's field also takes ``0``, ``1``, ``"yes"``…, which
    the schema's ``boolean`` does not allow (a client that sends them has a bug to hear of)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)
