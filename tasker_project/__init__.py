"""Tasker for Django: project package (settings, URLs, Celery app)."""

from tasker_project.celery import app as celery_app

__all__ = ["celery_app"]
