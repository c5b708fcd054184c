"""The notifier: posts drift alerts to a webhook (generic JSON, Slack-compatible or Telegram).

Delivery is retried with exponential backoff; a failure is logged and reported, never raised,
so an unreachable chat service cannot fail a monitoring run. With no webhook configured, the
alert is only logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

Format = Literal["json", "slack", "telegram"]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """What happened, for people: a title, a short text, details and a link to the report."""

    title: str
    text: str
    details: dict[str, str] = field(default_factory=dict)
    link: str | None = None

    def as_text(self) -> str:
        """The alert as plain text lines."""
        lines = [self.title, self.text, *(f"{k}: {v}" for k, v in self.details.items())]
        if self.link:
            lines.append(f"report: {self.link}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Delivery:
    """How an alert was delivered: ``sent``, ``failed`` or ``logged`` (no webhook)."""

    status: Literal["sent", "failed", "logged"]
    attempts: int
    error: str | None = None


def payload(alert: Alert, fmt: Format, *, telegram_chat_id: str | None = None) -> dict[str, Any]:
    """The request body of an alert in a webhook format."""
    if fmt == "slack":
        link = f"\n<{alert.link}|Open the report>" if alert.link else ""
        details = "".join(f"\n• *{k}*: {v}" for k, v in alert.details.items())
        return {"text": f"*{alert.title}*\n{alert.text}{details}{link}"}
    if fmt == "telegram":
        if not telegram_chat_id:
            raise ValueError("telegram alerts need a chat id (PERSONAMAP_ALERT_TELEGRAM_CHAT_ID)")
        return {"chat_id": telegram_chat_id, "text": alert.as_text()}
    return {"title": alert.title, "text": alert.text, "details": alert.details, "link": alert.link}


class WebhookNotifier:
    """Posts alerts to one webhook, with retries.

    Args:
        url: The webhook URL (for Telegram, the bot's ``sendMessage`` URL); ``None`` logs only.
        fmt: ``json``, ``slack`` or ``telegram``.
        telegram_chat_id: The chat to post to (Telegram only).
        attempts: Delivery attempts before giving up.
        backoff: First wait between attempts in seconds; doubles after each failure.
        timeout: Seconds one attempt may take.
    """

    def __init__(
        self,
        url: str | None,
        fmt: Format = "json",
        *,
        telegram_chat_id: str | None = None,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.fmt = fmt
        self.telegram_chat_id = telegram_chat_id
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout

    def send(self, alert: Alert) -> Delivery:
        """Deliver ``alert``; never raises."""
        if not self.url:
            logger.warning("alert (no webhook configured): %s", alert.as_text())
            return Delivery(status="logged", attempts=0)
        try:
            body = payload(alert, self.fmt, telegram_chat_id=self.telegram_chat_id)
        except ValueError as exc:
            logger.error("alert not sent: %s", exc)
            return Delivery(status="failed", attempts=0, error=str(exc))
        error = None
        wait = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                response = httpx.post(self.url, json=body, timeout=self.timeout)
                if response.is_success:
                    logger.info("alert delivered on attempt %d", attempt)
                    return Delivery(status="sent", attempts=attempt)
                error = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            logger.warning("alert attempt %d/%d failed: %s", attempt, self.attempts, error)
            if attempt < self.attempts:
                time.sleep(wait)
                wait *= 2
        logger.error("alert not delivered after %d attempts: %s", self.attempts, error)
        return Delivery(status="failed", attempts=self.attempts, error=error)
