"""Rows the simulated external systems write, one module per system."""

from examples.models.accounts import BillingProfile, UserAccount, UserPreferences
from examples.models.analytics import (
    DashboardSnapshot,
    WarehouseOrder,
    WarehouseProduct,
    WarehouseUser,
)
from examples.models.commerce import (
    GatewayCharge,
    InventoryItem,
    Order,
    StockReservation,
)
from examples.models.mail import SentEmail

__all__ = [
    "BillingProfile",
    "DashboardSnapshot",
    "GatewayCharge",
    "InventoryItem",
    "Order",
    "SentEmail",
    "StockReservation",
    "UserAccount",
    "UserPreferences",
    "WarehouseOrder",
    "WarehouseProduct",
    "WarehouseUser",
]
