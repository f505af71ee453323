"""Routes of the detections API under /api/v1/: strategies, rules, runs."""

from rest_framework.routers import SimpleRouter

from detections.api.views import RuleViewSet, RunViewSet, StrategyViewSet

router = SimpleRouter()
router.register("strategies", StrategyViewSet, basename="api-strategy")
router.register("rules", RuleViewSet, basename="api-rule")
router.register("runs", RunViewSet, basename="api-run")

urlpatterns = router.urls
