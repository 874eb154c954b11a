from django.urls import path

from apps.accounts import api
from apps.audit.api import HistoryListView

urlpatterns = [
    path("organizer/register/", api.RegisterOrganizerView.as_view(), name="register-organizer"),
    path("customer/register/", api.RegisterCustomerView.as_view(), name="register-customer"),
    path("login/", api.LoginView.as_view(), name="login"),
    path("logout/", api.LogoutView.as_view(), name="logout"),
    path("logout-all/", api.LogoutAllView.as_view(), name="logout-all"),
    path("profile/", api.ProfileView.as_view(), name="profile"),
    path("history/", HistoryListView.as_view(), name="history"),
]
