from django.urls import include, path

app_name = "detections"

urlpatterns = [
    path("", include("detections.strategy_urls")),
    path("rules/", include("detections.rule_urls")),
]
