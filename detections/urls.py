from django.urls import path

app_name = "detections"

urlpatterns: list = []
