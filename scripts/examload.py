"""Shared by scripts/crash-test and scripts/bench-autosave: a scratch server, learners
registered through the real HTTP API, started exams, and valid answers for any question.

Python's standard library only. Everything runs on loopback. The server limits
registrations per client address, so learners are spread over 127.0.0.x source
addresses (20 per address).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COURSE = "performance-engineering-masterclass"
PER_ADDRESS = 20


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def binary(build: bool) -> str:
    """The release binary; built first (incrementally) unless `build` is false."""
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/masterclass/target")
    path = os.environ.get("MASTERCLASS_BIN") or os.path.join(target, "release", "masterclass")
    if build:
        say("==> building the app (release)")
        subprocess.run(["bash", "-c", "source scripts/tools.sh && build_release"], cwd=ROOT, check=True,
                       stdout=sys.stderr)
    if not os.path.exists(path):
        sys.exit(f"no server binary at {path}; build it with scripts/serve or drop --no-build")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def source_address(i: int) -> str:
    """The loopback address learner `i` connects from."""
    n = 2 + i // PER_ADDRESS
    return f"127.0.{n // 250}.{n % 250 + 1}" if n >= 250 else f"127.0.0.{n}"


class PgSchema:
    """A fresh schema in the PostgreSQL database at `url`, dropped afterwards."""

    def __init__(self, url: str):
        self.base = url
        self.name = f"load_{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> "PgSchema":
        self.psql(f"CREATE SCHEMA {self.name}")
        return self

    def __exit__(self, *exc) -> None:
        self.psql(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")

    def psql(self, sql: str) -> None:
        base = self.base.split("?", 1)[0]
        env = dict(os.environ, PGOPTIONS="--client-min-messages=warning")
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", base, "-c", sql], check=True, env=env,
                       stdout=subprocess.DEVNULL)

    @property
    def database_url(self) -> str:
        sep = "&" if "?" in self.base else "?"
        return f"{self.base}{sep}options=-c%20search_path%3D{self.name}"


def lift_eligibility(content_dir: str) -> None:
    """Clears what the exam blueprints of a scratch copy of `content/` require before an
    attempt (completed modules, passed labs): these measure the exam's autosave, and
    grading every taker's labs first would take hours."""
    for course in os.listdir(content_dir):
        path = os.path.join(content_dir, course, "exam", "blueprint.yaml")
        if not os.path.isfile(path):
            continue
        out, skipping = [], False
        for line in open(path, encoding="utf-8").read().splitlines(keepends=True):
            if line.startswith("eligibility:"):
                out.append("eligibility:\n  modules_completed: []\n  labs_passed: []\n")
                skipping = True
            elif skipping and line.startswith((" ", "\t")):
                continue
            else:
                skipping = False
                out.append(line)
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(out))


class Server:
    """`masterclass serve` on a scratch data dir (and optionally a PostgreSQL schema)."""

    def __init__(self, bin_path: str, pg: PgSchema | None = None, log_level: str = "warn"):
        self.bin = bin_path
        self.data = tempfile.mkdtemp(prefix="masterclass-load-")
        shutil.copytree(os.path.join(ROOT, "content"), os.path.join(self.data, "content"))
        lift_eligibility(os.path.join(self.data, "content"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        for k in [k for k in self.env if k.startswith("LEPTOS_")]:
            del self.env[k]
        self.env.update(
            MASTERCLASS_DATA_DIR=self.data,
            MASTERCLASS_CONTENT_DIR=os.path.join(self.data, "content"),
            MASTERCLASS_ADDR=f"127.0.0.1:{self.port}",
            MASTERCLASS_ADMIN_EMAIL="admin@example.com",
            MASTERCLASS_ADMIN_PASSWORD="load test admin password",
            RUST_LOG=log_level,
        )
        self.env.pop("DATABASE_URL", None)
        if pg is not None:
            self.env["DATABASE_URL"] = pg.database_url
            self.env["MASTERCLASS_SESSION_SCHEMA"] = pg.name
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        log = open(os.path.join(self.data, f"server-{self.runs}.log"), "wb")
        self.proc = subprocess.Popen([self.bin, "serve"], cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"the server exited during start-up (status {self.proc.returncode})")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.fail("the server did not answer /healthz within 60 s")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing, exactly like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def fail(self, why: str) -> None:
        log = os.path.join(self.data, f"server-{self.runs}.log")
        try:
            tail = open(log, encoding="utf-8", errors="replace").read()[-3000:]
        except OSError:
            tail = ""
        self.kill()
        sys.exit(f"{why}\n--- server log ---\n{tail}")


class Learner:
    """One signed-in learner with a keep-alive connection from its own loopback address."""

    def __init__(self, server: Server, index: int):
        self.server = server
        self.index = index
        self.source = source_address(index)
        self.cookie = ""
        self.attempt = 0
        self.conn: http.client.HTTPConnection | None = None

    def connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30,
                                                   source_address=(self.source, 0))
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, endpoint: str, fields: list[tuple[str, str]]) -> tuple[int, str]:
        """POSTs a server function; a dropped keep-alive connection is retried once, before
        anything was sent. Raises OSError when the server is gone."""
        body = urllib.parse.urlencode(fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.server.base}
        if self.cookie:
            headers["Cookie"] = self.cookie
        for retry in (True, False):
            conn = self.connect()
            try:
                conn.request("POST", f"/api/{endpoint}", body=body, headers=headers)
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if retry:
                    continue
                raise
            try:
                r = conn.getresponse()
                text = r.read().decode()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                raise
            for k, v in r.getheaders():
                if k.lower() == "set-cookie" and v.startswith("masterclass_session="):
                    self.cookie = v.split(";", 1)[0]
            return r.status, text
        raise OSError("unreachable")

    def register(self, run: str) -> None:
        status, text = self.call("auth/register", [
            ("email", f"taker-{run}-{self.index}@example.com"),
            ("display_name", f"Taker {self.index}"),
            ("password", "a long taker password"),
        ])
        if status >= 400 or not self.cookie:
            raise RuntimeError(f"register failed: {status} {text[:200]}")

    def start(self) -> None:
        status, text = self.call("exam/start", [("course", COURSE)])
        if status != 200:
            raise RuntimeError(f"start failed: {status} {text[:200]}")
        self.attempt = int(json.loads(text))

    def question(self, position: int) -> dict:
        status, text = self.call("exam/question", [("attempt", str(self.attempt)), ("position", str(position))])
        if status != 200:
            raise RuntimeError(f"question failed: {status} {text[:200]}")
        return json.loads(text)

    def save(self, position: int, seq: int | None, fields: list[tuple[str, str]]) -> tuple[int, str]:
        form = [("attempt", str(self.attempt)), ("position", str(position))]
        if seq is not None:
            form.append(("seq", str(seq)))
        return self.call("exam/save", form + fields)


def prepare(server: Server, count: int, questions: bool = True) -> list[tuple[Learner, list[dict]]]:
    """`count` learners, each registered with an exam started; with `questions`, each
    learner's question views too (what a save must fit)."""
    run = uuid.uuid4().hex[:8]

    def one(i: int) -> tuple[Learner, list[dict]]:
        learner = Learner(server, i)
        learner.register(run)
        learner.start()
        views = []
        if questions:
            first = learner.question(1)
            total = first["total"]
            views = [first["view"]] + [learner.question(p)["view"] for p in range(2, total + 1)]
        return learner, views

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        out = list(pool.map(one, range(count)))
    say(f"    {count} learners registered, exams started ({time.monotonic() - t0:.1f} s)")
    return out


def answer_for(view: dict, variant: int) -> tuple[list[tuple[str, str]], dict]:
    """Form fields answering `view` (a QuestionView as JSON), different for each
    `variant`, and the answer the server stores for them (an `Answer` as JSON)."""
    kind = view["kind"]
    if kind == "TrueFalse":
        b = variant % 2 == 0
        return [("answer[0]", "true" if b else "false")], {"Bool": b}
    if kind == "Numeric":
        return [("answer[0]", str(variant))], {"Number": str(variant)}
    if kind == "ShortAnswer":
        return [("answer[0]", f"v{variant}")], {"Text": f"v{variant}"}
    (name, body), = kind.items()
    if name == "SingleChoice":
        k = variant % len(body["options"])
        return [("answer[0]", str(k))], {"Choice": k}
    if name == "MultipleResponse":
        k = variant % len(body["options"])
        return [(f"answer[{k}]", str(k))], {"Choices": [k]}
    if name == "Ordering":
        n = len(body["items"])
        order = [(i + variant) % n for i in range(n)]  # display indices, first to last
        return [(f"answer[{item}]", str(order.index(item) + 1)) for item in range(n)], {"Order": order}
    if name == "Matching":
        rights = len(body["rights"])
        picks = [(i + variant) % rights for i in range(len(body["lefts"]))]
        return [(f"answer[{i}]", str(p)) for i, p in enumerate(picks)], {"Match": picks}
    raise ValueError(f"unknown question kind {name}")
