from django.apps import AppConfig


class PartitionsConfig(AppConfig):
    name = "apps.partitions"
    label = "partitions"
