"""Filter backends with bounds, so a query string cannot make the database refuse the query."""

from datetime import UTC

from django import forms
from django_filters import IsoDateTimeFilter, NumberFilter
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter

# SQLite refuses LIKE patterns over 50,000 bytes and expression trees deeper than 1,000; these
# bounds are far below both and above any search a person types.
MAX_ID = 2**63 - 1
MAX_SEARCH_TERMS = 10
MAX_SEARCH_TERM_LENGTH = 100


class IdFilter(NumberFilter):
    """An integer id within the database's 64-bit range (a bigger one is a 400, not a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is not None:
            try:  # e.g. 9999-12-31T23:00-05:00 is past the last datetime once in UTC
                value.astimezone(UTC)
            except OverflowError as exc:
                raise forms.ValidationError("Datetime value out of range.", code="invalid") from exc
        return value


class DateTimeFilter(IsoDateTimeFilter):
    """An ISO 8601 datetime that is representable in UTC (out of range is a 400, not a 500)."""

    field_class = _UtcIsoDateTimeField


class BoundedSearchFilter(SearchFilter):
    """`?search=` with at most ``MAX_SEARCH_TERMS`` words of ``MAX_SEARCH_TERM_LENGTH``."""

    def get_search_terms(self, request) -> list[str]:
        try:
            terms = super().get_search_terms(request)
        except ValidationError as exc:  # e.g. a NUL character: name the parameter
            raise ValidationError({self.search_param: exc.detail}) from exc
        if len(terms) > MAX_SEARCH_TERMS or any(len(t) > MAX_SEARCH_TERM_LENGTH for t in terms):
            raise ValidationError(
                {
                    self.search_param: [
                        f"At most {MAX_SEARCH_TERMS} words of {MAX_SEARCH_TERM_LENGTH} characters."
                    ]
                }
            )
        return terms


FILTER_BACKENDS = [DjangoFilterBackend, BoundedSearchFilter, OrderingFilter]
