"""Notifications (core/run/notify.py, log.notify_url / log.notify_on) against a real local HTTP
server, and the two clock- and rate-based alerts (core/train/health.py: stalled, throughput_drop)."""

from __future__ import annotations

import json
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ganstudio.core.config import ConfigError, validate, with_values
from ganstudio.core.config.notify import redact, without_secret
from ganstudio.core.run.driver import RunDriver
from ganstudio.core.run.events import Alert, Finished, Heartbeat, Stats
from ganstudio.core.run.follow import Follower
from ganstudio.core.run.notify import FAILED_KIND, Notifier, RateLimit, payload
from ganstudio.core.run.state import RunState
from ganstudio.core.train.health import RECOVER, SLOW_SECONDS, SLOW_WINDOW, WARMUP, HealthMonitor, StallWatch
from tests.core.conftest import log_records, make_tiny_config

SECRET = "T0SECRET/B0SECRET/xoxbTOKENsecret"
FIELDS = {"run", "host", "step", "event", "message", "text"}


class Hook:
    """A local webhook: records each POST's JSON; while `hang` is set, each request waits for
    `release` before it answers."""

    def __init__(self, hang: bool = False):
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.release = threading.Event()
        self.waiting = threading.Event()  # a request is held (hang)
        if not hang:
            self.release.set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.paths.append(self.path)
                if not hook.release.is_set():
                    hook.waiting.set()
                    hook.release.wait(30)
                hook.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://user:pw@127.0.0.1:{self.server.server_address[1]}/services/{SECRET}?token=QSECRET"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def hanging_hook():
    h = Hook(hang=True)
    yield h
    h.close()


def _config(tmp_path, url: str, **values):
    # grad_max this low: a grad_explode alert at the first logged interval, an alert to tell.
    return make_tiny_config(
        values={"log.notify_url": url, "health.grad_max": 1e-9, "log.out": str(tmp_path / "runs"), **values},
        steps=12,
        every=2,
    )


def _drive(cfg) -> tuple[RunDriver, list]:
    driver = RunDriver(cfg)
    driver.prepare()
    return driver, list(driver.events())


def test_one_post_per_event_with_its_fields(tmp_path, hook, capsys):
    driver, events = _drive(_config(tmp_path, hook.url))
    driver.close()  # sends what is queued
    assert [b["event"] for b in hook.bodies] == ["grad_explode", "finished"]
    for body in hook.bodies:
        assert set(body) == FIELDS
        assert body["run"] == driver.folder.path.name and body["host"] == socket.gethostname()
        assert "\n" not in body["text"] and body["event"] in body["text"] and body["run"] in body["text"]
    assert hook.bodies[0]["step"] == 2 and "gradients are exploding" in hook.bodies[0]["message"]
    assert hook.bodies[1]["step"] == 12
    assert hook.paths[0] == f"/services/{SECRET}?token=QSECRET"  # sent whole, shown never
    assert not [e for e in events if isinstance(e, Alert) and e.kind == FAILED_KIND]
    # The secret (path, query, user part) is in no file of the run folder, checkpoints included.
    files = [p for p in driver.folder.path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pt" for p in files) and any(p.name == "config.toml" for p in files)
    for p in files:
        data = p.read_bytes()
        for secret in (b"SECRET", b"xoxb", b"user:pw"):
            assert secret not in data, f"{secret!r} in {p}"
    assert f"127.0.0.1:{hook.server.server_address[1]}/…" in driver.folder.config_path.read_text()
    out = capsys.readouterr()
    assert "SECRET" not in out.out + out.err


def test_notify_on_picks_the_events(tmp_path, hook):
    driver, _ = _drive(_config(tmp_path, hook.url, **{"log.notify_on": "finished"}))
    driver.close()
    assert [b["event"] for b in hook.bodies] == ["finished"]


def test_a_hanging_endpoint_does_not_hold_training_up(tmp_path, hanging_hook):
    """The first POST hangs; the run still trains every step and finishes meanwhile."""
    driver, events = _drive(_config(tmp_path, hanging_hook.url))
    assert hanging_hook.waiting.is_set() and not hanging_hook.release.is_set()  # still hanging
    (finished,) = [e for e in events if isinstance(e, Finished)]
    assert finished.step == 12 and finished.reason == "completed"
    hanging_hook.release.set()
    driver.close()  # the queued "finished" goes once the endpoint answers
    assert [b["event"] for b in hanging_hook.bodies] == ["grad_explode", "finished"]


def test_a_refused_connection_is_one_alert(tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"https://127.0.0.1:{port}/hooks/{SECRET}"
    driver, events = _drive(_config(tmp_path, url, **{"log.notify_on": "alerts,finished,stopped"}))
    driver.close()
    told = [r for r in log_records(driver.folder) if r["event"] == "alert" and r["kind"] == FAILED_KIND]
    assert len(told) == 1  # two sends failed (grad_explode, finished): told once
    (alert,) = told
    assert f"https://127.0.0.1:{port}/…" in alert["message"] and "log.notify_url" in alert["message"]
    assert "SECRET" not in json.dumps(told)
    out = capsys.readouterr()
    assert "SECRET" not in out.out + out.err


def test_failures_are_told_again_after_a_success(hook):
    n = Notifier(hook.url, run="r", host="h", timeout=2.0)
    n.url = "http://127.0.0.1:1/x"  # refused
    n.handle(Alert(step=1, kind="d_wins", message="m"), "alerts")
    assert n.flush(10)
    n.handle(Alert(step=2, kind="collapse", message="m"), "alerts")
    assert n.flush(10)
    assert [a.kind for a in n.take_alerts()] == [FAILED_KIND]
    n.url = hook.url
    n.handle(Alert(step=3, kind="collapse", message="m"), "alerts")
    assert n.flush(10) and n.sent == 1
    n.url = "http://127.0.0.1:1/x"
    n.handle(Alert(step=4, kind="d_wins", message="m"), "alerts")
    n.close()
    assert [a.step for a in n.take_alerts()] == [4]


def test_an_alert_sent_early_is_not_sent_again_from_the_stream(hook):
    n = Notifier(hook.url, run="r", host="h")
    alert = Alert(step=7, kind="stalled", message="no step")
    n.send_now(alert, "alerts")
    n.handle(alert, "alerts")  # the same alert, reaching the stream later
    n.handle(Alert(step=7, kind="config", message="refused edit"), "alerts")  # a request's answer
    n.close()
    assert [b["event"] for b in hook.bodies] == ["stalled"]


def test_the_driver_tells_a_stall_at_once_and_puts_it_in_the_stream_once(tmp_path, hook):
    """The heartbeat thread's check (driver._watch): the webhook hears of the stall at once, the
    run's stream gets the alert through its Control, and writing it does not send it again."""
    driver = RunDriver(_config(tmp_path, hook.url, **{"health.stall_seconds": 1, "health.grad_max": 0.0}))
    driver.prepare()
    driver._notifier = Notifier(hook.url, run=driver.folder.path.name, host="h")
    driver._stall.check(-1e9, driver.trainer.step, "running", 1)  # no step since long ago
    driver._watch()
    (alert,) = driver.control.take_posted()
    assert alert.kind == "stalled" and alert.evidence["stall_seconds"] == 1.0
    driver._write(alert)  # the loop yields it, the driver writes it
    driver.close()
    assert [b["event"] for b in hook.bodies] == ["stalled"]
    assert [r["kind"] for r in log_records(driver.folder) if r["event"] == "alert"] == ["stalled"]


def test_a_followed_run_shows_a_hung_runs_stall_from_its_heartbeat_once(tmp_path, hook):
    """A run whose loop hangs yields nothing, so its log cannot say the stall: the heartbeat (written
    by another thread) carries it while the step stays, a follower's state shows it at once, and
    the log's line for it, written when the loop moves again, does not show it twice."""
    driver = RunDriver(_config(tmp_path, hook.url, **{"health.stall_seconds": 1, "health.grad_max": 0.0}))
    driver.prepare()
    step = driver.trainer.step
    driver._stall.check(-1e9, step, "running", 1)
    driver._watch()
    told = driver._extra_status()["stalled"]
    (alert,) = driver.control.take_posted()
    assert told == alert.record()
    # The follower reads it from heartbeat.json, as the steering thread writes it.
    beat = {"time": 1.0, "seq": 1, "step": step, "status": "running", "host": "h", "pid": 1, "stalled": told}
    driver.folder.heartbeat_path.write_text(json.dumps(beat) + "\n", encoding="utf-8")
    follower = Follower(driver.folder)
    state = RunState(driver.trainer.cfg)
    for ev in follower.poll() + follower.poll():
        state.apply(ev)
    assert [a.kind for a in state.alerts] == ["stalled"] and state.alerts[0].step == step
    state.apply(Heartbeat(time=2.0, step=step, status="running", stalled=Alert.from_record(told)))
    state.apply(alert)  # the log's line, once the loop moved
    state.apply(Heartbeat(time=3.0, step=step, status="running", stalled=Alert.from_record(told)))  # late
    assert [a.kind for a in state.alerts] == ["stalled"]
    # The step moved: the next heartbeat no longer says it.
    driver.trainer.train_step()
    driver._watch()
    assert "stalled" not in driver._extra_status()
    driver.close()


def test_a_saved_url_lost_its_token_and_says_so():
    cfg = validate(
        with_values(make_tiny_config(), {"log.notify_url": f"https://hooks.slack.com/services/{SECRET}"})
    )
    saved = without_secret(cfg)
    assert saved.log.notify_url == "https://hooks.slack.com/…"
    validate(saved)  # reads back
    n = Notifier(saved.log.notify_url, run="r", host="h")
    n.handle(Finished(step=3, reason="completed"), "finished")
    n.close()
    (alert,) = n.take_alerts()
    assert alert.kind == FAILED_KIND and "give it again" in alert.message and n.sent == 0


def test_validation_names_the_bad_part_and_hides_the_secret():
    with pytest.raises(ConfigError) as e:
        validate(with_values(make_tiny_config(), {"log.notify_url": f"ftp://host.example/{SECRET}"}))
    (problem,) = e.value.problems
    assert "log.notify_url" in problem and "https://" in problem and "SECRET" not in problem
    with pytest.raises(ConfigError) as e:
        validate(with_values(make_tiny_config(), {"log.notify_on": "alerts,finshed,failed"}))
    (problem,) = e.value.problems
    assert "'finshed'" in problem and "is not an event" in problem and "alerts, finished" in problem
    assert validate(with_values(make_tiny_config(), {"log.notify_on": "none"})).log.notify_on == "none"
    assert redact("https://u:p@hooks.slack.com:8443/services/x?y=z") == "https://hooks.slack.com:8443/…"


def test_payload_text_is_one_short_line():
    p = payload("run", "host", 1234, "failed", "boom\nTraceback...\n" + "x" * 2000)
    assert set(p) == FIELDS and "\n" not in p["text"] and len(p["text"]) <= 500
    assert p["text"].startswith("GAN Studio · run on host: failed at step 1,234: boom Traceback")


# ----- the alerts: stalled and throughput_drop ---------------------------------------------------


def test_stalled_fires_once_while_running_without_steps_and_rearms():
    w = StallWatch()
    assert w.check(0.0, 5, "running", 120) is None
    assert w.check(119.0, 5, "running", 120) is None
    alert = w.check(121.0, 5, "running", 120)
    assert alert is not None and alert.kind == "stalled" and alert.step == 5
    assert alert.evidence == {"seconds": 121.0, "step": 5.0, "stall_seconds": 120.0}
    assert "121 s" in alert.message and "health.stall_seconds" in alert.message
    assert w.check(500.0, 5, "running", 120) is None  # the same stall: told once
    assert w.check(501.0, 6, "running", 120) is None  # a step: re-armed, the clock restarts
    assert w.check(600.0, 6, "running", 120) is None
    assert w.check(622.0, 6, "running", 120) is not None
    # Paused: no alert, and the clock starts again on resume.
    assert w.check(0.0, 9, "paused", 120) is None
    assert w.check(1000.0, 9, "paused", 120) is None
    assert w.check(1001.0, 9, "running", 120) is None
    assert w.check(1100.0, 9, "running", 120) is None
    assert w.check(1200.0, 10, "running", 0) is None and w.check(9999.0, 10, "running", 0) is None  # 0 = off


def _rate_monitor(**values):
    return HealthMonitor(validate(with_values(make_tiny_config(), values)))


def _stats(step: int, rate: float, wall: float = 0.0) -> Stats:
    return Stats(step, 0.0, wall, {"loss_d": 1.3, "loss_g": 0.7, "steps_per_s": rate})


def test_throughput_drop_after_warmup_for_a_sustained_while():
    m = _rate_monitor()
    step, wall = 0, 0.0
    interval_s = SLOW_SECONDS / SLOW_WINDOW  # each logged interval lasts this long

    def feed(rates, seconds=interval_s):
        nonlocal step, wall
        out = []
        for r in rates:
            step, wall = step + 10, wall + seconds
            out += [a for a in m.observe(_stats(step, r, wall)) if a.kind == "throughput_drop"]
        return out

    assert feed([100.0, 10.0, 10.0, 10.0]) == []  # slow during the warm-up: not judged
    assert feed([100.0] * WARMUP) == []
    assert feed([40.0] * (SLOW_WINDOW - 1)) == []  # below half the median, not long enough
    assert feed([100.0]) == []
    (alert,) = feed([40.0] * SLOW_WINDOW)
    assert alert.evidence["steps_per_s"] == 40.0 and alert.evidence["median"] == 100.0
    assert alert.evidence["threshold"] == 50.0 and alert.evidence["intervals"] == SLOW_WINDOW
    assert alert.evidence["seconds"] == pytest.approx(SLOW_SECONDS)
    assert "40 steps/s" in alert.message and "health.throughput_drop" in alert.message
    assert feed([40.0] * 2 + [100.0] * (RECOVER - 1) + [40.0] * SLOW_WINDOW) == []  # one episode
    assert feed([100.0] * RECOVER) == []
    assert feed([100.0] * RECOVER) == []
    # Short intervals (a busy machine's moment): SLOW_WINDOW of them are not yet a sustained while.
    assert feed([30.0] * SLOW_WINDOW, seconds=1.0) == []
    assert len(feed([30.0] * SLOW_WINDOW)) == 1  # re-armed after recovering
    off = _rate_monitor(**{"health.throughput_drop": 0.0})
    assert not [a for i in range(40) for a in off.observe(_stats(i, 100.0 if i < 20 else 1.0))]
    assert not [a for a in _rate_monitor().observe(_stats(1, math.nan))]


def test_rate_limit_once_per_key_per_interval():
    now = [0.0]
    limit = RateLimit(300.0, clock=lambda: now[0])
    assert limit.allow(("run1", "d_wins")) and not limit.allow(("run1", "d_wins"))
    assert limit.allow(("run1", "collapse")) and limit.allow(("run2", "d_wins"))
    now[0] = 299.0
    assert not limit.allow(("run1", "d_wins"))
    now[0] = 301.0
    assert limit.allow(("run1", "d_wins"))


def test_your_own_loop_notifies_as_train_does(tmp_path, hook):
    """ganstudio.init with log.notify_url: a NaN alert and the end are POSTed, the secret is in no
    file of the run folder, and a URL nothing answers is one notify_failed alert in the log."""
    import ganstudio

    run = ganstudio.init(out=tmp_path, name="mine", config={"log.notify_url": hook.url, "log.every": 1})
    for step in range(1, 4):
        run.log(step, loss_d=math.nan if step == 2 else 0.5)
        assert run.tick(step)
    run.finish()
    assert [b["event"] for b in hook.bodies] == ["nan", "finished"]
    assert all(b["run"] == run.folder.path.name for b in hook.bodies)
    for p in (p for p in run.folder.path.rglob("*") if p.is_file()):
        for secret in (b"SECRET", b"xoxb", b"user:pw"):
            assert secret not in p.read_bytes(), f"{secret!r} in {p}"

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = ganstudio.init(
        out=tmp_path, name="refused", config={"log.notify_url": f"http://127.0.0.1:{port}/x"}
    )
    refused.log(1, loss_d=0.5)
    refused.finish()
    told = [r for r in log_records(refused.folder) if r["event"] == "alert" and r["kind"] == FAILED_KIND]
    assert len(told) == 1 and f"127.0.0.1:{port}" in told[0]["message"]


def test_a_run_without_a_webhook_never_imports_urllib_request():
    """urllib.request (http, ssl, email: ~70 ms of imports) is loaded by the sending thread only."""
    import subprocess
    import sys

    code = "import sys, ganstudio.core.run.driver, ganstudio.core.api; print('urllib.request' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
