from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from django.db import models
        from rest_framework.serializers import ModelSerializer

        from apps.core.fields import StrictBooleanField

        # Every model boolean in a request body is a JSON boolean, as the schema says.
        ModelSerializer.serializer_field_mapping[models.BooleanField] = StrictBooleanField
