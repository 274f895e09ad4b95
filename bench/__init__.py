"""`make bench`: Tasker against raw Celery on the same machine, broker and workers."""
