"""Workflow definitions: YAML files validated into specs, synced into rows."""
