from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.models import user_type
from apps.core.throttling import (
    LoginIpThrottle,
    LoginUsernameThrottle,
    RegisterIpThrottle,
    RegisterUsernameThrottle,
)

User = get_user_model()


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "date_joined"]


class ProfileSerializer(serializers.Serializer):
    user = UserSerializer()
    user_type = serializers.CharField()
    organization_name = serializers.CharField(required=False)
    business_address = serializers.CharField(required=False)

    @staticmethod
    def of(user) -> dict:
        profile = {"user": UserSerializer(user).data, "user_type": user_type(user)}
        if hasattr(user, "organizer_profile"):
            profile["organization_name"] = user.organizer_profile.organization_name
            profile["business_address"] = user.organizer_profile.business_address
        return profile


class RegisterCustomerSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        candidate = User(
            username=attrs["username"],
            email=attrs["email"],
            first_name=attrs["first_name"],
            last_name=attrs["last_name"],
        )
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs


class RegisterOrganizerSerializer(RegisterCustomerSerializer):
    organization_name = serializers.CharField(max_length=200)
    business_address = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000
    )


class AuthResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`; shown once.")
    expiry = serializers.DateTimeField(help_text="The token stops working at this time.")
    user_type = serializers.CharField()
    profile = ProfileSerializer()


class LoginSerializer(serializers.Serializer):
    # As sent: the login backend and the login throttle compare it the same way
    # (apps.core.clients.canonical_username), outer whitespace included.
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


def _auth_response(user, key: str, token, status_code: int) -> Response:
    body = {
        "token": key,
        "expiry": serializers.DateTimeField().to_representation(token.expiry),
        "user_type": user_type(user),
        "profile": ProfileSerializer.of(user),
    }
    return Response(body, status=status_code)


class _TokenIssuingView(APIView):
    """An anonymous POST that validates, calls one service and answers with a token."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    input_serializer: type[serializers.Serializer]
    success_status = status.HTTP_201_CREATED

    def issue(self, data: dict):
        """Return ``(user, key, token)``."""
        raise NotImplementedError

    def post(self, request):
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, key, token = self.issue(data.validated_data)
        return _auth_response(user, key, token, self.success_status)


@extend_schema_view(
    post=extend_schema(
        request=RegisterOrganizerSerializer,
        responses={201: AuthResponseSerializer},
        summary="Register an organizer",
    )
)
class RegisterOrganizerView(_TokenIssuingView):
    input_serializer = RegisterOrganizerSerializer
    throttle_classes = [RegisterIpThrottle, RegisterUsernameThrottle]

    def issue(self, data):
        organizer, key, token = services.register_organizer(**data)
        return organizer.user, key, token


@extend_schema_view(
    post=extend_schema(
        request=RegisterCustomerSerializer,
        responses={201: AuthResponseSerializer},
        summary="Register a customer",
    )
)
class RegisterCustomerView(_TokenIssuingView):
    input_serializer = RegisterCustomerSerializer
    throttle_classes = [RegisterIpThrottle, RegisterUsernameThrottle]

    def issue(self, data):
        customer, key, token = services.register_customer(**data)
        return customer.user, key, token


@extend_schema_view(
    post=extend_schema(
        request=LoginSerializer,
        responses={200: AuthResponseSerializer},
        summary="Log in and get a token",
    )
)
class LoginView(_TokenIssuingView):
    input_serializer = LoginSerializer
    throttle_classes = [LoginIpThrottle, LoginUsernameThrottle]
    success_status = status.HTTP_200_OK

    def issue(self, data):
        return services.log_in(**data)


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, summary="Log out (revokes this token)")
    def post(self, request):
        services.log_out(user=request.user, token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None, responses={204: None}, summary="Log out everywhere (revokes every token)"
    )
    def post(self, request):
        services.log_out_everywhere(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: ProfileSerializer}, summary="The caller's profile")
    def get(self, request):
        return Response(ProfileSerializer.of(request.user))
