"""Routes of the triage API under /api/v1/: alerts and suppressions."""

from rest_framework.routers import SimpleRouter

from triage.api.views import AlertViewSet, SuppressionViewSet

router = SimpleRouter()
router.register("alerts", AlertViewSet, basename="api-alert")
router.register("suppressions", SuppressionViewSet, basename="api-suppression")

urlpatterns = router.urls
