from django.urls import path

from triage import stats_views, views

app_name = "triage"

urlpatterns = [
    path("dashboard/", stats_views.dashboard, name="dashboard"),
    path("stats/rules/<int:pk>/", stats_views.rule_stats, name="rule_stats"),
    path("stats/strategies/<int:pk>/", stats_views.strategy_stats, name="strategy_stats"),
    path("alerts/", views.alert_list, name="alert_list"),
    path("alerts/bulk/", views.alert_bulk, name="alert_bulk"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert_detail"),
    path("alerts/<int:pk>/transition/", views.alert_transition, name="alert_transition"),
    path("alerts/<int:pk>/assign/", views.alert_assign, name="alert_assign"),
    path("alerts/<int:pk>/comment/", views.alert_comment, name="alert_comment"),
    path("alerts/<int:pk>/playbook/", views.alert_playbook, name="alert_playbook"),
    path("alerts/<int:pk>/isolate/", views.alert_isolate, name="alert_isolate"),
    path("alerts/<int:pk>/actions/<int:action_pk>/manifest/", views.action_manifest, name="action_manifest"),
    path("alerts/<int:pk>/tuning/", views.alert_flag_tuning, name="alert_flag_tuning"),
    path("alerts/<int:pk>/case/", views.alert_case, name="alert_case"),
    path("alerts/<int:pk>/suppress/", views.alert_suppress, name="alert_suppress"),
    path("cases/", views.case_list, name="case_list"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/action/", views.case_action, name="case_action"),
    path("tuning/", views.tuning_queue, name="tuning_queue"),
    path("tuning/<int:pk>/resolve/", views.tuning_resolve, name="tuning_resolve"),
    path("audit/", views.audit_page, name="audit"),
]
