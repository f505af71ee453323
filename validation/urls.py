from django.urls import path

from validation import views

app_name = "validation"

urlpatterns = [
    path("navigator-layer.json", views.navigator_layer, name="navigator_layer"),
    path("strategies/<slug:slug>/run/", views.run_validation, name="run_validation"),
    path("strategies/<slug:slug>/results/", views.validation_results, name="validation_results"),
]
