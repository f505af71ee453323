from django.urls import path

from telemetry import views

app_name = "telemetry"

urlpatterns = [
    path("sources/", views.source_list, name="source_list"),
    path("sources/<slug:name>/", views.source_detail, name="source_detail"),
    path("sources/<slug:name>/upload/", views.source_upload, name="source_upload"),
]
