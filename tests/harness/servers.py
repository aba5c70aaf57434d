"""Real PostgreSQL 15, Redis 7 and RabbitMQ 3.10 servers as child processes for tests.

Fakes cannot reproduce crashes, restarts, fsync or broker redelivery, so the durability
tests run against the real thing: each server gets a free loopback port and a private
directory, and anything started is stopped at interpreter exit so no orphans remain.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import pwd
import secrets
import shlex
import signal
import socket
import string
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import quote

import psycopg
import redis
from psycopg import sql

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
REDIS_BIN = Path("/usr/bin/redis-server")
_REQUIRED = {
    "redis-server": REDIS_BIN,
    "postgresql": PG_BIN / "initdb",
    "rabbitmq-server": RABBIT_BIN / "rabbitmq-server",
}
_APT_LOCK = Path("/tmp/corehub-harness-apt.lock")
_BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
_UTF8 = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


# --------------------------------------------------------------------------- helpers


def _missing_packages() -> list[str]:
    return [pkg for pkg, path in _REQUIRED.items() if not path.exists()]


def _apt(*args: str) -> None:
    """Run apt-get, retrying for up to 3 minutes while another apt/dpkg holds the lock."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=60", *args]
    deadline = time.monotonic() + 180
    while True:
        res = subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if res.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{shlex.join(cmd)} failed:\n{res.stdout[-2000:]}{res.stderr}")
        time.sleep(3)


def ensure_packages() -> None:
    """Install whichever server packages are missing; safe when several processes race."""
    if not _missing_packages():
        return
    with _APT_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first process installs, the others wait
        if missing := _missing_packages():
            _apt("update")
            _apt("install", "-y", *missing)
    if missing := _missing_packages():
        raise RuntimeError(f"packages still missing after apt-get install: {missing}")


def free_port() -> int:
    """Ask the kernel for an unused loopback port (tiny reuse race accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int, comm: str | None = None) -> bool:
    """True if pid runs (zombies count as dead; `comm` guards against pid reuse)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    name, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]
    return state not in "ZX" and (comm is None or name == comm)


def _children(pid: int) -> list[int]:
    """Direct children of pid, found via /proc (postgres backends outlive a killed master)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
                kids.append(int(stat.parent.name))
    return kids


def _signal(pid: int | None, sig: signal.Signals) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(pids: Iterable[int], timeout: float) -> bool:
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if _alive(p)]
        time.sleep(0.05)
    return not [p for p in pending if _alive(p)]


def _tail(paths: Sequence[Path], lines: int = 30) -> str:
    """Last lines of each existing log, to make startup failures self-explanatory."""
    out = []
    for path in paths:
        with contextlib.suppress(OSError):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path} ---\n" + "\n".join(text))
    return "\n".join(out) or "(no logs)"


def _wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    logs: Sequence[Path],
    died: Callable[[], bool] = lambda: False,
) -> None:
    """Poll `ready`; fail fast if the process died, else with a timeout, both with log tails."""
    deadline = time.monotonic() + timeout
    while not ready():
        if died():
            raise RuntimeError(f"{what} exited during startup\n{_tail(logs)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s\n{_tail(logs)}")
        time.sleep(0.1)


def _as_user(name: str) -> dict[str, Any]:
    """Popen kwargs dropping root: postgres refuses root and rabbit's files belong to it."""
    entry = pwd.getpwnam(name)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _chown(paths: Iterable[Path], user: str) -> None:
    entry = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _check_traversable(path: Path) -> None:
    """Service users must reach their dir; pytest's 0700 tmp roots are a classic trap."""
    for parent in path.parents:
        if not parent.stat().st_mode & 0o001:
            raise PermissionError(f"{parent} is not world-traversable (chmod o+x) for {path}")


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


_LIVE: list[_Server] = []


@atexit.register
def _stop_all() -> None:
    """Safety net: stop what this very process started (forked children must not)."""
    for server in reversed(list(_LIVE)):
        if server.owner_pid == os.getpid():
            with contextlib.suppress(Exception):
                server.stop()


class _Server:
    """Shared bits: private dir, fixed port across restarts, context manager, atexit."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.owner_pid = os.getpid()

    @property
    def pid(self) -> int | None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _track(self) -> None:
        if self not in _LIVE:
            _LIVE.append(self)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(port={self.port}, pid={self.pid}, root={self.root})"


# --------------------------------------------------------------------------- Redis


class RedisServer(_Server):
    """redis-server; `persistent` turns on fsync-always AOF so kill -9 loses nothing."""

    def __init__(self, root: Path, *, persistent: bool = False) -> None:
        super().__init__(root)
        self.persistent = persistent
        self.url = self.url_for_db(0)
        self.log = self.root / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def url_for_db(self, n: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{n}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def start(self) -> None:
        if self.pid is not None:
            return
        durability = ["--appendonly", "yes", "--appendfsync", "always"]
        cmd = [str(REDIS_BIN), "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--dir", str(self.root), "--save", "", "--daemonize", "no"]
        cmd += durability if self.persistent else ["--appendonly", "no"]
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.root, start_new_session=True,
            )  # fmt: skip
        self._track()
        proc = self._proc
        _wait_until(
            self._pings, timeout=20, what=f"redis on {self.port}", logs=[self.log],
            died=lambda: proc.poll() is not None,
        )  # fmt: skip

    def _pings(self) -> bool:
        """PING answered by *our* process (a stray redis could hold the port)."""
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=1)
        try:
            return bool(client.ping()) and client.info("server")["process_id"] == self.pid
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM: redis fsyncs the AOF and exits; no RDB since saving is disabled."""
        if (proc := self._proc) is None or proc.poll() is not None:
            return
        self.resume()  # a SIGSTOPped redis would never act on SIGTERM
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        if (proc := self._proc) is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def pause(self) -> None:
        _signal(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        _signal(self.pid, signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()


# --------------------------------------------------------------------------- PostgreSQL


class PostgresServer(_Server):
    """PostgreSQL 15 cluster owned by `postgres`, trust auth for role `app`.

    Unless `durable`, fsync/synchronous_commit/full_page_writes are off for speed; then a
    kill -9 may lose the last ~second of commits, so crash tests should pass durable=True.
    """

    def __init__(self, root: Path, *, durable: bool = False) -> None:
        super().__init__(root)
        _check_traversable(self.root)
        self.root.chmod(0o755)
        _chown([self.root], "postgres")
        self.durable = durable
        self.data = self.root / "data"
        self.log = self.root / "log"
        self.ctl_log = self.root / "pg_ctl.log"
        self.admin_url = self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://app@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq conninfo for raw psycopg (the URLs above are SQLAlchemy-style)."""
        return f"host=127.0.0.1 port={self.port} user=app dbname={dbname}"

    @property
    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            return pid if _alive(pid, "postgres") else None
        return None

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        """Run a PG binary as postgres; output goes to pg_ctl.log, quoted on failure."""
        with self.ctl_log.open("ab") as log:
            res = subprocess.run(
                [str(PG_BIN / tool), *args], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.root, env={**_BASE_ENV, **_UTF8},
                timeout=timeout, check=False, **_as_user("postgres"),
            )  # fmt: skip
        if res.returncode != 0:
            raise RuntimeError(f"{tool} {shlex.join(args)} failed\n{self._logs()}")

    def _logs(self) -> str:
        return _tail([self.ctl_log, self.log])

    def _initdb(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        args = ["-D", str(self.data), "-A", "trust", "-U", "app", "-E", "UTF8", "--locale=C"]
        self._run("initdb", *args, *([] if self.durable else ["--no-sync"]))

    def _cleanup_stale(self) -> None:
        """After kill -9 the pid file and socket lock stay behind and block a new master."""
        if self.pid is None:
            (self.data / "postmaster.pid").unlink(missing_ok=True)
            (self.root / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
            (self.root / f".s.PGSQL.{self.port}").unlink(missing_ok=True)

    def start(self) -> None:
        if self.pid is not None:
            return
        self._initdb()
        self._cleanup_stale()
        opts = [f"-p {self.port}", f"-k {shlex.quote(str(self.root))}"]
        opts += ["-c listen_addresses=127.0.0.1", "-c max_connections=200"]
        if not self.durable:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._track()
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", " ".join(opts),
            "-w", "-t", "30", "start",
        )  # fmt: skip
        _wait_until(self._accepts, timeout=20, what=f"postgres on {self.port}", logs=[self.log])

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def stop(self) -> None:
        if self.pid is not None:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def crash(self) -> None:
        """Immediate shutdown: no checkpoint, WAL replay on next start."""
        if self.pid is not None:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def kill(self) -> None:
        """kill -9 the postmaster, then wait for its orphaned backends to notice and exit."""
        if (pid := self.pid) is None:
            return
        kids = _children(pid)
        _signal(pid, signal.SIGKILL)
        if not _wait_gone([pid, *kids], 10):
            for kid in kids:
                _signal(kid, signal.SIGKILL)
            _wait_gone(kids, 5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    def create_database(self, name: str) -> str:
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self._admin(query.format(sql.Identifier(name)))


# --------------------------------------------------------------------------- RabbitMQ


class RabbitMQServer(_Server):
    """Private RabbitMQ node (own name, ports, mnesia, cookie) running as `rabbitmq`."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        _check_traversable(self.root)
        self.dist_port = free_port()
        self.node = f"corehub-test-{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.pid_file = self.root / "pid"
        self.startup_log = self.root / "startup.log"
        self.ctl_log = self.root / "ctl.log"
        self.node_log = self.root / "log" / f"{self.node}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        if self._proc is None or self._proc.poll() is not None:
            return None
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_file.read_text().strip())
            return pid if _alive(pid, "beam.smp") else None
        return None

    def _env(self) -> dict[str, str]:
        d = self.root
        return {
            **_BASE_ENV,
            **_UTF8,
            "HOME": str(d),  # the Erlang cookie lives here, shared by server and CLI
            "USER": "rabbitmq",
            "LOGNAME": "rabbitmq",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
        }

    def _prepare(self) -> None:
        """Write config and cookie once; everything must be owned by `rabbitmq`."""
        d = self.root
        for sub in ("mnesia", "log"):
            (d / sub).mkdir(exist_ok=True)
        (d / "enabled_plugins").write_text("[].\n")
        (d / "rabbitmq-env.conf").write_text("")
        conf = f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n"
        (d / "rabbitmq.conf").write_text(conf)
        cookie = d / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(20)))
        cookie.chmod(0o400)
        self.pid_file.unlink(missing_ok=True)  # stale after kill -9; `wait` would trust it
        d.chmod(0o755)
        names = ("mnesia", "log", "enabled_plugins", "rabbitmq-env.conf", "rabbitmq.conf")
        _chown([d, cookie, *(d / n for n in names)], "rabbitmq")

    def _popen_ctl(self, *args: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args], env=self._env(),
            cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            **_as_user("rabbitmq"),
        )  # fmt: skip

    def ctl(self, *args: str, timeout: float = 60) -> None:
        """rabbitmqctl as `rabbitmq` with this node's env; output to ctl.log (not a pipe,
        since a CLI-spawned epmd could hold a pipe open forever)."""
        with self.ctl_log.open("ab") as log:
            proc = self._popen_ctl(*args, log=log)
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = -1
        if code != 0:
            raise RuntimeError(f"rabbitmqctl {shlex.join(args)} failed\n{self._logs()}")

    def _logs(self) -> str:
        return _tail([self.ctl_log, self.startup_log, self.node_log])

    def start(self) -> None:
        if self.pid is not None:
            return
        self._prepare()
        with self.startup_log.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")], env=self._env(), cwd=self.root,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, **_as_user("rabbitmq"),
            )  # fmt: skip
        self._track()
        self._wait_booted(self._proc, timeout=60)

    def _wait_booted(self, server: subprocess.Popen[bytes], timeout: float) -> None:
        """`rabbitmqctl wait` until the app runs, failing fast if the server dies first."""
        what = f"rabbitmq node {self.node}"
        with self.ctl_log.open("ab") as log:
            waiter = self._popen_ctl("wait", "--timeout", str(int(timeout)), str(self.pid_file),
                                     log=log)  # fmt: skip
            try:
                _wait_until(
                    lambda: waiter.poll() is not None, timeout=timeout + 5, what=what,
                    logs=[self.ctl_log, self.startup_log, self.node_log],
                    died=lambda: server.poll() is not None,
                )  # fmt: skip
            finally:
                if waiter.poll() is None:
                    waiter.kill()
                    waiter.wait()
        if waiter.returncode != 0:
            raise RuntimeError(f"{what} failed to boot\n{self._logs()}")
        _wait_until(
            lambda: _port_open(self.port), timeout=10, what=f"{what} AMQP port",
            logs=[self.node_log],
        )  # fmt: skip

    def _reap(self, timeout: float) -> None:
        if (proc := self._proc) is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # our own session only
                proc.wait()

    def stop(self) -> None:
        if (pid := self.pid) is not None:
            try:
                self.ctl("stop", str(self.pid_file), timeout=60)
            except RuntimeError:
                _signal(pid, signal.SIGTERM)
        self._reap(30)

    def kill(self) -> None:
        """kill -9 the beam: no clean mnesia/message-store shutdown, recovery on restart."""
        if (pid := self.pid) is not None:
            _signal(pid, signal.SIGKILL)
            _wait_gone([pid], 10)
        self._reap(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def add_vhost(self, name: str) -> str:
        self.ctl("add_vhost", name)
        self.ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{quote(name, safe='')}"
