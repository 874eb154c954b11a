"""Filter backends with bounds, so a query string cannot make the database refuse the query."""

from datetime import UTC

from django import forms
from django_filters import BooleanFilter, IsoDateTimeFilter, ModelChoiceFilter, NumberFilter
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


class _StrictBooleanField(forms.NullBooleanField):
    """``true`` or ``false``; empty: not filtered; anything else a 400 (Django's widgets read
    any other word as "not given", so a typo silently widened a list)."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in ("true", "false"):
            return value == "true"
        raise forms.ValidationError("Must be true or false.", code="invalid")


class _RelatedIdField(forms.IntegerField):
    """A relation's id as a filter reads it: any id in range; one that matches nothing gives
    an empty list (as any other filter does), not a 400."""

    def __init__(self, *, queryset=None, to_field_name=None, null_label=None, **kwargs):
        kwargs.pop("empty_label", None)
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, with boolean filters that refuse what is not a boolean and relation
    filters that take ids (what the schema says of both)."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            for declared in filterset.filters.values():  # this request's copies
                if isinstance(declared, BooleanFilter):
                    declared.field_class = _StrictBooleanField
                    declared.extra["widget"] = forms.TextInput  # the word as sent
                elif isinstance(declared, ModelChoiceFilter):
                    declared.field_class = _RelatedIdField
        return filterset


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


FILTER_BACKENDS = [StrictFilterBackend, BoundedSearchFilter, OrderingFilter]
