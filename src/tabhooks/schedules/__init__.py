"""Schedules: when refreshes and flow runs happen on their own (recurrence, scheduler)."""

from __future__ import annotations
