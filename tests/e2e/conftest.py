"""Fixtures that run the real skiff binary: a platform (`skiff up`) on a free
loopback port in a temporary home, and a CLI runner pointed at it."""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

SKIFF_BIN = os.environ.get("SKIFF_BIN", str(Path(__file__).resolve().parents[2] / "build" / "skiff"))
SRC = Path(os.environ.get("SKIFF_SRC", Path(__file__).resolve().parents[2]))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    """A running `skiff up`, its home, URL and admin token."""

    def __init__(self, home: Path):
        self.home = home
        self.proc = None
        self.url = None
        self.log_path = home.parent / (home.name + ".log")

    def env(self, **extra):
        env = dict(os.environ)
        env.pop("SKIFF_URL", None)
        env.pop("SKIFF_TOKEN_FILE", None)
        env["SKIFF_HOME"] = str(self.home)
        env.update(extra)
        return env

    def start(self, listen="127.0.0.1:0", timeout=20):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SKIFF_BIN, "up", "--listen", listen], env=self.env(),
                                     stdout=self.log, stderr=self.log)
        endpoint = self.home / "endpoint"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"skiff up exited with {self.proc.returncode}: {self.logs()}")
            if endpoint.exists() and endpoint.read_text().strip():
                self.url = endpoint.read_text().strip()
                try:
                    if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                        return self
                except requests.ConnectionError:
                    pass
            time.sleep(0.02)
        raise RuntimeError("skiff up did not become healthy: " + self.logs())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        if getattr(self, "log", None):
            self.log.close()
        return self.proc.returncode if self.proc else None

    def logs(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def token(self):
        return (self.home / "admin.token").read_text().strip()

    def headers(self, token=None):
        return {"Authorization": "Bearer " + (token or self.token)}

    def api(self, method, path, token=None, **kw):
        kw.setdefault("timeout", 10)
        return requests.request(method, self.url + path, headers=self.headers(token), **kw)

    def cli(self, *args, input=None, env=None, check=None):
        """Runs the skiff CLI against this platform; returns CompletedProcess."""
        r = subprocess.run([SKIFF_BIN, *args], env=self.env(**(env or {})), input=input,
                           capture_output=True, text=True, timeout=60)
        if check is not None:
            assert r.returncode == check, f"exit {r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
        return r


@pytest.fixture
def platform(tmp_path):
    p = Platform(tmp_path / "home").start()
    yield p
    rc = p.stop()
    assert rc == 0, "skiff up did not stop cleanly:\n" + p.logs()
    # ASan/UBSan reports land in the log; a clean stop prints none.
    assert "Sanitizer" not in p.logs(), p.logs()


@pytest.fixture
def home_platform(tmp_path):
    """A platform object not yet started (for restart and start-up tests)."""
    p = Platform(tmp_path / "home")
    yield p
    p.stop()


def run(*args, env=None, input=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([SKIFF_BIN, *args], env=e, input=input, capture_output=True,
                          text=True, timeout=60)
