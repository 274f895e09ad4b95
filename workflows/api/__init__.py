"""The REST API under /api/v1/: parse, authorise, call a service, serialize."""
