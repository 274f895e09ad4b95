"""Public ids of the simulated systems: a prefix and a time-ordered UUID."""

from tasker_project.core.ids import uuid7


def _public_id(prefix: str) -> str:
    return f"{prefix}_{uuid7().hex}"


def charge_id() -> str:
    """Return a new gateway charge id (``ch_…``)."""
    return _public_id("ch")


def order_number() -> str:
    """Return a new order number (``ord_…``)."""
    return _public_id("ord")


def user_id() -> str:
    """Return a new user-service account id (``usr_…``)."""
    return _public_id("usr")


def snapshot_id() -> str:
    """Return a new dashboard snapshot id (``dash_…``)."""
    return _public_id("dash")


def email_id() -> str:
    """Return a new mailer message id (``msg_…``)."""
    return _public_id("msg")
