"""SQLModel tables for webhooks and their delivery outbox (created by migration 0009_webhooks).

The signing secret is stored as it is: every attempt signs with it, so it cannot be a hash.
No foreign key from deliveries to webhooks: the store deletes a webhook's deliveries in the
transaction that deletes the webhook (as memories and their feedback)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from history.base import HistoryBase, UtcDateTime


class WebhookRow(HistoryBase, table=True):
    __tablename__ = "webhooks"

    id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    url: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    event_types: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    user_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    agent_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    run_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    active: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, nullable=False))
    secret: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    created_by: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))


class WebhookDeliveryRow(HistoryBase, table=True):
    __tablename__ = "webhook_deliveries"
    # the claim reads (status, next_attempt_at); the log reads (webhook_id, created_at)
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_status_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
        sa.Index("ix_webhook_deliveries_memory_id", "memory_id"),
    )

    id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    webhook_id: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    event_id: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    next_attempt_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    last_status_code: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    # what the event was about, so that erasing a memory or a scope can delete these rows too
    memory_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    user_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    agent_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    run_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))


webhooks: sa.Table = WebhookRow.__table__  # type: ignore[attr-defined]
webhook_deliveries: sa.Table = WebhookDeliveryRow.__table__  # type: ignore[attr-defined]
