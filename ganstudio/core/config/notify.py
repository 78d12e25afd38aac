"""What `log.notify_url` and `log.notify_on` may say, read as text only (core/run/notify.py sends
the notifications), and how the URL is shown: never whole.

A webhook URL is a password: Slack's and Discord's carry their token in the path, others in the
query string or the user part. So it is shown as scheme://host/… wherever it is written (messages,
alerts, the run folder's config.toml and checkpoints: `without_secret`), and a run that continues
from such a saved config says so instead of sending to a URL that lost its token.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from ganstudio.core.config.augment import show
from ganstudio.core.config.keys import Config

#: The groups of events `log.notify_on` may name.
EVENTS = ("alerts", "finished", "failed", "stopped")
HIDDEN = "/…"  # what stands for the path, query and user part of a shown URL


def redact(url: str) -> str:
    """`url` as scheme://host[:port]/…: what may be shown of it. Text that is not a URL shows its
    first few characters only."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port or IPv6 address
        parts, host, port = None, "", ""
    if parts is None or not parts.scheme or not host:
        text = url.strip()
        return show(text[:8] + ("…" if len(text) > 8 else ""))
    return f"{parts.scheme}://{host}{port}{HIDDEN}"


def is_redacted(url: str) -> bool:
    """A URL saved without its secret (`without_secret`): nothing can be sent to it."""
    return url.strip().endswith(HIDDEN)


def events_of(text: str) -> frozenset[str]:
    """The groups `log.notify_on` names. Assumes a valid value."""
    return frozenset(part.strip() for part in text.split(",")) & frozenset(EVENTS)


def notify_problem(key: str, value: str) -> str | None:
    """What is wrong with `log.notify_url` or `log.notify_on`'s text, or None."""
    if key == "log.notify_url":
        return _url_problem(value)
    if key == "log.notify_on":
        parts = [part.strip() for part in value.split(",")]
        if value.strip() in ("", "none"):
            return None
        bad = list(dict.fromkeys(part for part in parts if part not in EVENTS))
        if bad:
            named = ", ".join(show(b) for b in bad[:3]) + (
                f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            )
            return (
                f"log.notify_on = {show(value)}: {named} "
                f"{'are not events' if len(bad) > 1 else 'is not an event'}; use any of "
                f"{', '.join(EVENTS)} joined by commas (e.g. 'alerts,finished,failed'), or 'none'"
            )
    return None


def _url_problem(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            f"log.notify_url = {redact(value)} is not a web address; use the webhook's full URL, "
            "starting with https:// (or http://), or leave it empty for no notifications"
        )
    if any(c.isspace() for c in text):
        return f"log.notify_url = {redact(value)} contains a space; paste the webhook's URL without spaces"
    return None


def without_secret(cfg: Config) -> Config:
    """`cfg` with log.notify_url shown as scheme://host/… : what a run folder and its checkpoints keep."""
    url = cfg.log.notify_url
    if not url or is_redacted(url):
        return cfg
    return dataclasses.replace(cfg, log=dataclasses.replace(cfg.log, notify_url=redact(url)))
