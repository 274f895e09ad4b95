"""The shared kernel: what every app may import, and which imports no app.

Actors (who acts), domain errors (what went wrong, with a stable code), JSON
value checks, ids and the timestamp base model. Nothing here imports
``workflows``, ``namespaces``, ``audit`` or ``examples``; import-linter
checks it (``make lint``).
"""
