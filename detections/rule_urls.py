"""Detection rules, their runs and retro-hunts (views in detections.views.rules)."""

from django.urls import path

from detections.views import rules

urlpatterns = [
    path("", rules.rule_list, name="rule_list"),
    path("<int:pk>/", rules.rule_detail, name="rule_detail"),
    path("<int:pk>/retro-hunt/", rules.rule_retro_hunt, name="rule_retro_hunt"),
    path("runs/", rules.run_list, name="run_list"),
]
