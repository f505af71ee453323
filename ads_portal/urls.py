from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from accounts.views import LoginView, admin_login, healthz
from ads_portal.api import api_not_found

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="detections:strategy_list", permanent=False), name="home"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/login/", admin_login),  # before admin.site.urls: the same view, 429 when locked out
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("telemetry/", include("telemetry.urls")),
    path("detections/", include("detections.urls")),
    path("triage/", include("triage.urls")),
    path("validation/", include("validation.urls")),
    path("api/v1/", include("ads_portal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    re_path(r"^api/", api_not_found),  # last: only paths no API route took
]

# A 500 under /api/ answers JSON like every other API error; pages keep Django's page.
handler500 = "ads_portal.api.server_error"
