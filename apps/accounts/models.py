from django.conf import settings
from django.db import models


class Organizer(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organizer_profile"
    )
    organization_name = models.CharField(max_length=200)
    business_address = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.organization_name} ({self.user.username})"


class Customer(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_profile"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.user.username


class UserType(models.TextChoices):
    ORGANIZER = "organizer"
    CUSTOMER = "customer"
    STAFF = "staff"


def user_type(user) -> str:
    if hasattr(user, "organizer_profile"):
        return UserType.ORGANIZER
    if hasattr(user, "customer_profile"):
        return UserType.CUSTOMER
    return UserType.STAFF
