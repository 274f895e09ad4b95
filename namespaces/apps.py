"""Namespaces app: teams, their roles and cross-team grants."""

from django.apps import AppConfig


class NamespacesConfig(AppConfig):
    name = "namespaces"
    verbose_name = "Teams"
