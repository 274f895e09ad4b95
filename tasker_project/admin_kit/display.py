"""How the admin shows stored JSON."""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString


def pretty_json(value: Any) -> SafeString | str:
    """Return ``value`` as indented JSON in a ``<pre>``; ``-`` when absent."""
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html(
        '<pre class="tasker-json" style="margin:0;white-space:pre-wrap;'
        'max-height:30em;overflow:auto">{}</pre>',
        text,
    )
