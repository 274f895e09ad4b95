"""The workflow engine: plain Python over the ORM, importable without HTTP."""
