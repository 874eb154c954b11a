from rest_framework.permissions import BasePermission


class IsOrganizer(BasePermission):
    message = "Only organizers may do this."

    def has_permission(self, request, view) -> bool:
        return bool(
            request.user
            and request.user.is_authenticated
            and hasattr(request.user, "organizer_profile")
        )


class IsCustomer(BasePermission):
    message = "Only customers may do this."

    def has_permission(self, request, view) -> bool:
        return bool(
            request.user
            and request.user.is_authenticated
            and hasattr(request.user, "customer_profile")
        )
