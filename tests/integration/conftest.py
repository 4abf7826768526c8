"""A real S3 server for the test session: SeaweedFS (``weed server -s3``) on 127.0.0.1.

The binary is the one ``tests/tools/build-tools.sh`` builds from the SeaweedFS Go module into the
tools cache; without it the tests that need it skip with the command that builds it. MinIO's
server is AGPL, so it is neither built nor run here; the registry speaks to SeaweedFS through
the same ``minio`` SDK it uses against MinIO.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from fixtures.tools import free_ports, tool_binary
from minio import Minio
from minio.error import MinioException

READY_TIMEOUT_S = 90.0
ACCESS_KEY = "smartfed-test"
SECRET_KEY = "smartfed-test-secret-key"
PORT_NAMES = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
)


class SeaweedS3:
    """One ``weed server`` with master, volume, filer and S3 gateway, restartable in place.

    ``kill`` and ``start`` let a test take the S3 endpoint away mid-operation and bring it back
    on the same ports and data, as a crashed and restarted store would be.
    """

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
        self.endpoint = f"127.0.0.1:{self.ports['s3.port']}"
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.log_path = workdir / "weed.log"
        data = workdir / "data"
        data.mkdir()
        identities = workdir / "s3.json"
        identities.write_text(json.dumps({"identities": [{
            "name": "smartfed-test",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        self.command = [
            str(binary), "server",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
            "-filer", "-s3", f"-s3.config={identities}",
            f"-filer.localSocket={workdir / 'filer.sock'}",
            f"-s3.localSocket={workdir / 's3.sock'}",
            # The Iceberg and Lance catalogs would listen on fixed ports; the suite needs neither.
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            # Each bucket grows 7 volumes; small, many volumes keep a test run's disk use small.
            "-master.volumeSizeLimitMB=32", "-volume.max=100",
            # A lone master waits this long to win its election after a restart (default 10 s).
            "-master.electionTimeout=1s",
            *(f"-{name}={port}" for name, port in self.ports.items()),
        ]
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        """The registry settings that point ``open_store("s3://...")`` at this server."""
        return {
            "SMARTFED_S3_ENDPOINT": self.endpoint,
            "SMARTFED_S3_ACCESS_KEY": self.access_key,
            "SMARTFED_S3_SECRET_KEY": self.secret_key,
            "SMARTFED_S3_SECURE": "false",
        }

    def client(self) -> Minio:
        return Minio(self.endpoint, self.access_key, self.secret_key, secure=False)

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                self.command, cwd=self.workdir, stdout=log_file, stderr=subprocess.STDOUT
            )
        self._wait_until_ready()

    def kill(self) -> None:
        """Stop the server at once (SIGKILL by PID), as a crash would."""
        if self.process is None:
            return
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def remove_grpc_sockets(self) -> None:
        # weed puts a Unix socket per gRPC port into /tmp, named by the port; these are ours.
        for name, port in self.ports.items():
            if name.endswith(".grpc"):
                for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                    path.unlink(missing_ok=True)

    def _wait_until_ready(self) -> None:
        """Until a volume server has joined the master and S3 answers a signed request."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        client = self.client()
        master = f"http://127.0.0.1:{self.ports['master.port']}/dir/status"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"weed exited with code {self.process.returncode} before it was ready; its "
                    f"log ({self.log_path}):\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(master, timeout=2) as reply:
                    topology = json.load(reply)["Topology"]
                nodes = [
                    node
                    for center in topology.get("DataCenters") or []
                    for rack in center.get("Racks") or []
                    for node in rack.get("DataNodes") or []
                ]
                if nodes:
                    client.list_buckets()
                    return
            except (OSError, KeyError, ValueError, MinioException, urllib3.exceptions.HTTPError):
                pass  # not listening, no topology yet, or S3 not serving yet
            time.sleep(0.3)
        raise RuntimeError(
            f"weed did not serve S3 on {self.endpoint} within {READY_TIMEOUT_S:.0f} s; its log "
            f"({self.log_path}):\n{self.log_path.read_text()[-3000:]}"
        )


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory) -> Iterator[SeaweedS3]:
    """A running SeaweedFS S3 endpoint with one access key; stopped by its PID at the end."""
    binary = tool_binary("weed")
    if not binary.is_file():
        pytest.skip(
            f"SeaweedFS is not built at {binary}: run `make tools` (tests/tools/build-tools.sh weed)"
        )
    server = SeaweedS3(binary, tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
        yield server
    finally:
        server.kill()
        server.remove_grpc_sockets()
