"""OpenAPI description of the token authentication and of login's 401 (loaded by
AccountsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiViewExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class ProfileTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.ProfileTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Token"
        )


class LoginErrors(OpenApiViewExtension):
    """Login is anonymous, yet answers 401 to a wrong password (``invalid_credentials``)."""

    target_class = "apps.accounts.api.LoginView"

    def view_replacement(self):
        return type("LoginView", (self.target_class,), {"error_statuses": {"post": (401,)}})
