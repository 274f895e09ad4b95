"""The admin's shared kit: team scoping, object pages, redaction, JSON display.

Every app's admin builds on it (workflows, namespaces, audit, examples), so
it imports no app's admin, API, selectors or services: only the namespace
scoping (:mod:`namespaces.scoping`), the PII redactor (:mod:`audit.pii`) and
the shared kernel.
"""
