import django_filters
from rest_framework import generics, serializers

from apps.audit.models import Action, HistoryPoint
from apps.core.filters import DateTimeFilter


class HistoryPointSerializer(serializers.ModelSerializer):
    content_type = serializers.SerializerMethodField()

    class Meta:
        model = HistoryPoint
        fields = ["id", "action", "content_type", "object_id", "details", "created_at"]

    def get_content_type(self, obj: HistoryPoint) -> str | None:
        return obj.content_type.model if obj.content_type_id else None


class HistoryFilter(django_filters.FilterSet):
    action = django_filters.MultipleChoiceFilter(choices=Action.choices)
    content_type = django_filters.CharFilter(
        field_name="content_type__model", label="Model name, e.g. event"
    )
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = HistoryPoint
        fields = ["action", "content_type", "created_after", "created_before"]


class HistoryListView(generics.ListAPIView):
    """The caller's own actions, newest first."""

    serializer_class = HistoryPointSerializer
    filterset_class = HistoryFilter
    ordering_fields = ["created_at"]
    search_fields: list[str] = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return HistoryPoint.objects.none()
        return HistoryPoint.objects.filter(user=self.request.user).select_related("content_type")
