from django.urls import include, path

from detections.views import rules

app_name = "detections"

urlpatterns = [
    path("", include("detections.strategy_urls")),
    path("rules/", include("detections.rule_urls")),
    # Runs are a page of their own in the navigation; the old address under rules/ stays.
    path("runs/", rules.run_list, name="runs"),
]
