"""Throwaway `redis-server` and PostgreSQL instances for the fleet tests.

Each server listens on a free port of 127.0.0.1 only, keeps its data in a fresh
temporary directory (removed at `stop()`), and runs in the foreground as a child of
the test process, so `stop()` and `restart()` act on exactly the process started here.

PostgreSQL refuses to run as root: as root (CI) initdb and postgres run as the
`postgres` user (Debian's package creates it), else as `nobody`, with a data directory
they own in the system temp dir (pytest's own tmp dirs are private to root). As any
other user they run as that user. Tests need speed, not durability: fsync is off.

Missing binaries: `find_redis()` / `find_postgres()` return None; the conftest turns
that into a skip with an install hint, or a failure when `CI=true`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresServer", "RedisServer", "find_postgres", "find_redis", "free_port"]

START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Return once `port` accepts connections; raise if the process died first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {_tail(log)}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)  # a subprocess starting up: nothing to await
    raise RuntimeError(f"server did not listen on {port} within {START_TIMEOUT}s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes] | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def find_redis() -> str | None:
    """The `redis-server` binary, or None."""
    return shutil.which("redis-server")


class _Server:
    """What both servers do alike: a restart keeps the data directory, close removes it."""

    dir: Path

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer(_Server):
    """A `redis-server` on 127.0.0.1 with no persistence (a restart empties it)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="simapi-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = self.dir / "redis.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                 "--daemonize", "no", "--protected-mode", "yes"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        _wait_port(self.port, self.proc, log)

    def stop(self) -> None:
        """Stop the server (its data is lost); the directory stays for a restart."""
        _stop(self.proc, signal.SIGTERM)
        self.proc = None


def find_postgres() -> str | None:
    """The directory holding `initdb` and `postgres` (PATH first, then Debian's), or None."""
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("postgres") is not None:
        return str(Path(os.path.realpath(initdb)).parent)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    return str(Path(found[-1]).parent) if found else None


def _server_user() -> str | None:
    """The unprivileged user to run PostgreSQL as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


class PostgresServer(_Server):
    """A PostgreSQL cluster of its own: superuser `simapi`, trust auth on 127.0.0.1."""

    USER = "simapi"

    def __init__(self, bindir: str) -> None:
        self.bindir = Path(bindir)
        self.port = free_port()
        self.run_as = _server_user()
        self.dir = Path(tempfile.mkdtemp(prefix="simapi-pg-"))
        self.data = self.dir / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        if self.run_as is not None:
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._initdb()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{database}"

    def _popen(self, args: list[str], out: int | object) -> subprocess.Popen[bytes]:
        if self.run_as is None:
            return subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.dir,
            )
        pw = pwd.getpwnam(self.run_as)
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.dir, user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
            env={**os.environ, "HOME": str(self.dir), "USER": self.run_as},
        )

    def _initdb(self) -> None:
        proc = self._popen(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.USER,
             "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            subprocess.PIPE,
        )
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"initdb failed ({proc.returncode}): {out.decode(errors='replace')}")

    def start(self) -> None:
        log = self.dir / "postgres.log"
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            if self.run_as is not None:
                pw = pwd.getpwnam(self.run_as)
                os.fchown(fd, pw.pw_uid, pw.pw_gid)
            self.proc = self._popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.dir), "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=100"],
                fd,
            )
        finally:
            os.close(fd)
        _wait_port(self.port, self.proc, log)
        self._wait_ready(log)

    def _wait_ready(self, log: Path) -> None:
        """The port opens before the server accepts queries ("starting up"): ask it."""
        isready = self.bindir / "pg_isready"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            done = subprocess.run(
                [str(isready), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER,
                 "-d", "postgres", "-q"], check=False,
            )
            if done.returncode == 0:
                return
            time.sleep(0.05)  # a subprocess starting up: nothing to await
        raise RuntimeError(f"postgres not ready: {_tail(log)}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: disconnects clients, keeps the data)."""
        _stop(self.proc, signal.SIGINT)
        self.proc = None
