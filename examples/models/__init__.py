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
from examples.models.customers import Customer, SupportTicket
from examples.models.mail import SentEmail
from examples.models.payments import GatewayRefund, Payment, PaymentRefund

__all__ = [
    "BillingProfile",
    "Customer",
    "DashboardSnapshot",
    "GatewayCharge",
    "GatewayRefund",
    "InventoryItem",
    "Order",
    "Payment",
    "PaymentRefund",
    "SentEmail",
    "StockReservation",
    "SupportTicket",
    "UserAccount",
    "UserPreferences",
    "WarehouseOrder",
    "WarehouseProduct",
    "WarehouseUser",
]
