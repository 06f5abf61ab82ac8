"""Agents decide; connectors and the engine do the work.

Today the MonitorAgent watches every event of a run and records it. Planning and running live
in :mod:`..pipeline`.
"""

from __future__ import annotations

from .monitor import MonitorAgent

__all__ = ["MonitorAgent"]
