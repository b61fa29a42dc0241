"""Several Rasa replicas behind nginx, started by the README's command (`scripts/cluster.sh`), for the benchmark
and the tests."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Dict, Optional

from devstack.stack import ROOT, _descendants, free_port


class Cluster:
    """`scripts/cluster.sh` (what `make cluster` runs) on free ports, with its own PostgreSQL databases (dropped at
    `stop`), run from Python: for the benchmark and the end-to-end test."""

    def __init__(self, replicas: int, folder: Path, model: str, env: Optional[Dict[str, str]] = None,
                 start_timeout: float = 400.0):
        self.replicas = replicas
        self.dir = folder / f"cluster-{replicas}"
        self.ports = {"rasa": free_port(), "sandbox": free_port(), "desk": free_port()}
        base = 20000 + (os.getpid() % 500) * 20 + replicas * 5
        self.env = {**os.environ, "REPLICAS": str(replicas), "RASA_MODEL": model, "CLUSTER_DIR": str(self.dir),
                    "RASA_PORT": str(self.ports["rasa"]), "SANDBOX_PORT": str(self.ports["sandbox"]),
                    "DESK_PORT": str(self.ports["desk"]), "REPLICA_BASE_PORT": str(base),
                    "ACTIONS_PORT": str(base + 10), "CLUSTER_DB": f"salesbot_bench_{uuid.uuid4().hex[:8]}",
                    "REDIS_LOCK_DB": "3"}
        for name in ("GREEN_API_INSTANCE_ID", "GREEN_API_TOKEN", "GREEN_API_POLLING", "OPENAI_API_KEY", "DATABASE_URL"):
            self.env.pop(name, None)
        self.env.update(env or {})
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen = None  # type: ignore[assignment]

    def start(self) -> "Cluster":
        self.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.dir.parent / f"cluster-{self.replicas}.log", "w")
        self.proc = subprocess.Popen(["bash", "scripts/cluster.sh"], cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while not (self.dir / "pids" / "ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.replicas}-replica cluster did not start: {log.name}")
            time.sleep(1)
        return self

    @property
    def sandbox(self) -> str:
        return f"http://127.0.0.1:{self.ports['sandbox']}"

    def pids(self) -> Dict[str, int]:
        return {p.stem: int(p.read_text()) for p in (self.dir / "pids").glob("*.pid")}

    def log(self, name: str) -> str:
        path = self.dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill_9(self, name: str) -> None:
        pid = self.pids()[name]
        for each in [pid] + _descendants(pid):
            try:
                os.kill(each, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        db = self.env["CLUSTER_DB"]
        for name in (db, f"{db}_tracker"):
            subprocess.run(["dropdb", "--if-exists", "--force", "-h", os.environ.get("PGHOST", "127.0.0.1"),
                            "-U", os.environ.get("PGUSER", "postgres"), name], capture_output=True)
