"""Strategy library, strategy pages and the ATT&CK coverage matrix (views in detections.views.strategies)."""

from django.urls import path

from detections.views import strategies

urlpatterns = [
    path("strategies/", strategies.strategy_list, name="strategy_list"),
    path("coverage/", strategies.coverage_matrix_view, name="coverage"),
    path("strategies/<slug:slug>/", strategies.strategy_detail, name="strategy_detail"),
]
