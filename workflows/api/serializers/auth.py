"""JWT token bodies: the pair, and a refresh that answers 401, not 500."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshRotateSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, answering 401 for a user deleted since issue.

    simplejwt looks the token's user up with ``.get()`` and let
    ``DoesNotExist`` escape as a 500; nothing is written before that look-up.
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist:
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from None
