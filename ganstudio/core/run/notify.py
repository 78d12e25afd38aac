"""Hear about a run when nobody is watching: a webhook told of its alerts and of its end.

`Notifier` is one listener on a run's events (the run driver hands it every event it writes, on
rank 0 only): for each event `log.notify_on` names it queues one JSON POST to `log.notify_url`,

    {"run": "20260101-120000-digits-dcgan-hinge", "host": "gpu-box", "step": 4000,
     "event": "d_wins", "message": "the discriminator is winning: ...",
     "text": "GAN Studio · 20260101-120000-digits-dcgan-hinge on gpu-box: d_wins at step 4,000: ..."}

where `event` is "finished", "stopped", "failed" or an alert's kind, and `text` is one line that
Slack (and Discord's .../slack webhook) show as they are. A daemon thread sends them with
urllib (stdlib only, TIMEOUT_S each), so a refusing or hanging endpoint never slows training: the
queue holds QUEUE_MAX, and what does not fit is dropped. A failed send becomes one `notify_failed`
alert for the run (`take_alerts`, which the driver passes on), then none until a send succeeds again.
The URL is shown as scheme://host/… only (config/notify.py): its token stays out of every message.

`RateLimit` is the desktop notifications' rule (once per key per few minutes), Qt-free for tests.
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ganstudio.core.config.notify import events_of, is_redacted, redact
from ganstudio.core.run.events import Alert, Event, Failed, Finished
from ganstudio.core.run.state import COMPLETED

TIMEOUT_S = 5.0
QUEUE_MAX = 100
TEXT_MAX = 500  # characters of `text`: one line in a chat
FAILED_KIND = "notify_failed"


def describe(ev: Event) -> tuple[str, str, str] | None:
    """(event name, its log.notify_on group, message) for an event worth telling; None otherwise.
    Alerts that answer a request (a refused edit) are for whoever asked, and a failed notification
    is not sent to the endpoint that failed."""
    if isinstance(ev, Finished):
        if ev.reason == COMPLETED:
            return "finished", "finished", f"completed {ev.step:,} steps"
        return "stopped", "stopped", f"stopped at step {ev.step:,} ({ev.reason})"
    if isinstance(ev, Failed):
        return "failed", "failed", ev.message
    if isinstance(ev, Alert) and ev.kind not in Alert.REQUEST_KINDS and ev.kind != FAILED_KIND:
        return ev.kind, "alerts", ev.message
    return None


def payload(run: str, host: str, step: int, event: str, message: str) -> dict[str, Any]:
    text = " ".join(f"GAN Studio · {run} on {host}: {event} at step {step:,}: {message}".split())
    if len(text) > TEXT_MAX:
        text = text[: TEXT_MAX - 1] + "…"
    return {"run": run, "host": host, "step": step, "event": event, "message": message, "text": text}


class Notifier:
    """Sends a run's notable events to a webhook from a daemon thread; see the module's docstring.
    `handle(event, notify_on)` for every event (cheap: most are not sent); `close()` at the end."""

    def __init__(self, url: str, *, run: str, host: str, timeout: float = TIMEOUT_S):
        self.url = url.strip()
        self.shown = redact(self.url)
        self.run, self.host = run, host
        self.timeout = timeout
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=QUEUE_MAX)
        self._lock = threading.Lock()
        self._alerts: list[Alert] = []  # failures to tell, for the driver to take
        self._failing = False
        self._early: list[Alert] = []  # alerts sent before they reached the event stream
        self._step = 0
        self._idle = threading.Condition(self._lock)
        self._busy = 0  # payloads queued or being sent
        self.sent = 0
        self._thread = threading.Thread(target=self._loop, name="ganstudio-notify", daemon=True)
        self._thread.start()

    # ----- the driver's side (the training thread) --------------------------------------------

    def handle(self, ev: Event, notify_on: str) -> None:
        """Queue `ev`'s notification if `notify_on` (log.notify_on) names its group."""
        self._step = max(self._step, getattr(ev, "step", 0) or 0)
        with self._lock:
            sent = [i for i, early in enumerate(self._early) if early is ev]
            if sent:  # sent already (send_now), now in the stream
                del self._early[sent[0]]
                return
        self._queue_event(ev, notify_on)

    def send_now(self, alert: Alert, notify_on: str) -> None:
        """An alert from another thread, sent before it reaches the stream (where `handle` then
        skips it): a stalled run's training thread may not yield anything for a long while."""
        with self._lock:
            self._early = [*self._early[-7:], alert]
        self._queue_event(alert, notify_on)

    def _queue_event(self, ev: Event, notify_on: str) -> None:
        said = describe(ev)
        if said is None or said[1] not in events_of(notify_on):
            return
        if is_redacted(self.url):
            self._fail(
                "log.notify_url was kept without its token, as every saved config keeps it; give it "
                "again (--set log.notify_url=...) to be notified"
            )
            return
        event, _, message = said
        with self._lock:
            try:
                self._queue.put_nowait(payload(self.run, self.host, ev.step, event, message))
            except queue.Full:
                return  # the endpoint is far behind: this one is dropped (the failure was told)
            self._busy += 1

    def take_alerts(self) -> list[Alert]:
        """The notify_failed alerts since the last take, for the run's stream."""
        with self._lock:
            out, self._alerts = self._alerts, []
        return out

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for what is queued to be sent; whether it all was."""
        end = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, wait_s: float | None = None) -> None:
        """Send what is queued (waiting at most `wait_s`, default one send's timeout and a second),
        then end the thread. A hanging endpoint costs the end of a run that long, never more."""
        self.flush(self.timeout + 1.0 if wait_s is None else wait_s)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # the thread is stuck on a send; it is a daemon

    # ----- the sending thread -------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            problem = self._post(item)
            with self._lock:
                self._busy -= 1
                self.sent += problem is None
                if problem is None:
                    self._failing = False
                self._idle.notify_all()
            if problem is not None:
                self._fail(problem)

    def _post(self, item: dict[str, Any]) -> str | None:
        """Send one payload; None, or why it failed (never the URL beyond its host)."""
        import urllib.error  # here, on the sending thread: ~70 ms of imports (http, ssl, email)
        import urllib.request  # that a run without log.notify_url never pays

        body = json.dumps(item, ensure_ascii=False).encode("utf-8")
        url, headers = _with_auth(self.url)
        headers |= {"Content-Type": "application/json", "User-Agent": "GAN-Studio"}
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read(1024)
            return None
        except urllib.error.HTTPError as e:
            return f"the server answered HTTP {e.code} {e.reason}"
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError):
                return f"no answer in {self.timeout:g} s"
            return f"cannot connect ({self._scrub(str(getattr(reason, 'strerror', None) or reason))})"
        except TimeoutError:
            return f"no answer in {self.timeout:g} s"
        except (OSError, ValueError) as e:
            return self._scrub(f"{type(e).__name__}: {e}")

    def _scrub(self, text: str) -> str:
        """`text` without the URL in it, should an error message quote it."""
        return text.replace(self.url, self.shown) if self.url else text

    def _fail(self, problem: str) -> None:
        with self._lock:
            if self._failing:
                return
            self._failing = True
            self._alerts.append(
                Alert(
                    step=self._step,
                    kind=FAILED_KIND,
                    message=(
                        f"a notification to {self.shown} (log.notify_url) was not sent: {problem}. "
                        "Training goes on; the failures after this one are not told until a "
                        "notification gets through again"
                    ),
                    evidence={},
                )
            )


def _with_auth(url: str) -> tuple[str, dict[str, str]]:
    """urllib sends no user:password@ part: it goes as Basic authentication instead."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    token = base64.b64encode(user.encode("utf-8")).decode("ascii")
    return urlunsplit(parts._replace(netloc=netloc)), {"Authorization": f"Basic {token}"}


class RateLimit:
    """At most one `allow(key)` per key every `interval_s` seconds (desktop notifications: one per
    alert kind and run every few minutes). `clock` is time.monotonic unless a test gives one."""

    def __init__(self, interval_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[Any, float] = {}

    def allow(self, key: Any) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            return False
        self._last[key] = now
        return True
