"""Retries and circuit breakers, below the connectors: a connector retries one request or page
with them, and the engine retries one task."""

from __future__ import annotations

from .breaker import BREAKERS, BreakerRegistry, CircuitBreaker, CircuitOpenError
from .retry import RetryPolicy

__all__ = ["BREAKERS", "BreakerRegistry", "CircuitBreaker", "CircuitOpenError", "RetryPolicy"]
