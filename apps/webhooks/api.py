"""Webhook subscriptions and their deliveries: the caller's own only (others get 404)."""

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.core.throttling import WebhookChangeThrottle
from apps.webhooks import selectors
from apps.webhooks import subscriptions as services
from apps.webhooks.models import (
    DeliveryStatus,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)


@extend_schema_field(
    {"type": "array", "minItems": 1, "items": {"type": "string", "enum": EventType.values}}
)
class EventTypesField(serializers.ListField):
    """A list of event types (described inline: the enum component is the deliveries')."""


class SubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.URLField(max_length=2000, help_text="http:// or https:// endpoint")
    event_types = EventTypesField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        help_text="The outcomes to receive.",
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "event_types",
            "is_active",
            "disabled_reason",
            "consecutive_failures",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "disabled_reason",
            "consecutive_failures",
            "created_at",
            "updated_at",
        ]


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    """Only in the answers to create and rotate-secret: the secret is never shown again."""

    secret = serializers.CharField(read_only=True, help_text="whsec_… (Standard Webhooks)")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = [*SubscriptionSerializer.Meta.read_only_fields, "secret"]


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number",
            "succeeded",
            "status_code",
            "duration_ms",
            "error",
            "response_body",
            "created_at",
        ]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(
        source="uid", read_only=True, help_text="The message id, sent as webhook-id."
    )
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_error",
            "payload",
            "attempts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def _own_subscriptions(request):
    if request is None:  # the schema generator
        return WebhookSubscription.objects.none()
    return selectors.subscriptions_for(request.user)


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.ChoiceFilter(choices=EventType.choices)
    # Among the caller's own: another user's subscription id is answered like one that does not
    # exist (400), not with an empty page that would tell it exists.
    subscription = django_filters.ModelChoiceFilter(queryset=_own_subscriptions)

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event_type", "subscription"]


DELIVERY_STATUS_PARAMETER = OpenApiParameter(
    "status",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=False,
    enum=DeliveryStatus.values,
    description="Only deliveries in this status.",
)


class SubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Webhook subscriptions: register a URL and the outcomes to receive, signed with a secret
    shown once (at creation and at rotation)."""

    serializer_class = SubscriptionSerializer
    throttle_classes = [WebhookChangeThrottle]
    filterset_fields = ["is_active"]
    search_fields = ["url"]
    ordering_fields = ["id", "created_at", "consecutive_failures"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.subscriptions_for(self.request.user)

    @extend_schema(
        request=SubscriptionSerializer,
        responses={201: SubscriptionWithSecretSerializer},
        summary="Subscribe a URL (the answer shows the secret, once)",
    )
    def create(self, request):
        data = SubscriptionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.create_subscription(owner_id=request.user.id, **data.validated_data)
        return Response(
            SubscriptionWithSecretSerializer(subscription).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=SubscriptionSerializer,
        responses={200: SubscriptionSerializer},
        summary="Change the URL or types; disable or enable (is_active)",
    )
    def partial_update(self, request, pk=None):
        subscription = self.get_object()
        data = SubscriptionSerializer(subscription, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        subscription = services.update_subscription(
            subscription=subscription, **data.validated_data
        )
        return Response(SubscriptionSerializer(subscription).data)

    def perform_destroy(self, instance):
        services.delete_subscription(subscription=instance)

    @extend_schema(
        request=None,
        responses={200: SubscriptionWithSecretSerializer},
        summary="Replace the secret (the answer shows the new one, once)",
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscription = services.rotate_secret(subscription=self.get_object())
        return Response(SubscriptionWithSecretSerializer(subscription).data)

    @extend_schema(
        responses={200: DeliverySerializer(many=True)},
        parameters=[DELIVERY_STATUS_PARAMETER],
        summary="The subscription's deliveries, newest first, with their attempts",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        wanted = (
            {"status": request.query_params["status"]} if "status" in request.query_params else {}
        )
        filtered = DeliveryFilter(wanted, queryset=selectors.deliveries_of(self.get_object()))
        if not filtered.is_valid():
            raise ValidationError(filtered.errors)
        queryset = filtered.qs
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deliveries of the caller's subscriptions, by message id (webhook-id)."""

    serializer_class = DeliverySerializer
    throttle_classes = [WebhookChangeThrottle]
    filterset_class = DeliveryFilter
    lookup_field = "uid"
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"
    search_fields: list[str] = []
    ordering_fields = ["id", "created_at", "next_attempt_at"]

    def get_queryset(self):
        return selectors.deliveries_for(self.request.user)

    @extend_schema(
        request=None,
        responses={
            202: DeliverySerializer,
            409: OpenApiResponse(
                OpenApiTypes.OBJECT, description="Still pending, or the subscription is disabled"
            ),
        },
        summary="Send a finished delivery again (one attempt, same webhook-id)",
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request, uid=None):
        delivery = services.redeliver(delivery=self.get_object())
        delivery = selectors.deliveries_for(request.user).get(pk=delivery.pk)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
