"""DynamoDB state that survives a crash and a restart of moto's server: a write-ahead journal of requests
plus snapshots of moto's own tables.

moto keeps its tables in memory. Every DynamoDB request (API 2012-08-10) that can change state (any action
but Get*, BatchGet*, TransactGetItems, Query, Scan, Describe*, List*) and succeeded is appended to the
journal as one JSON line (action, account, region, request body) and flushed to the OS before its response
is sent: a SIGKILL loses nothing that was acknowledged (MOTO_JOURNAL_FSYNC=1 also fsyncs each line, for
power loss). At start the snapshot is loaded and the journal replayed through the same application before
the server accepts requests.

Why replaying only the successful requests reproduces the state: requests run one at a time (see
moto_server_serial.py), moto's DynamoDB is deterministic (no clock in conditions; moto 5.2.5 never expires
items by TTL, it only stores the setting), and a request that failed changed nothing (moto_server_serial.py
makes UpdateItem, BatchWriteItem and TransactWriteItems all or nothing). Replay in order therefore meets
every condition exactly as it was met the first time. A replayed request that fails anyway would mean the
state diverged: it is counted and reported in the log (action and error type only), never hidden.

Snapshot: moto's DynamoDB backends (tables with their items, indexes, TTL settings, tags, streams, backups),
pickled, with the moto version (a snapshot from another moto is refused) and a generation number. The
journal that follows a snapshot is `journal-<generation>.jsonl`; compaction writes snapshot g+1 (temporary
file, fsync, rename), then starts journal g+1 and deletes journal g, so a crash at any point leaves either
the old snapshot and its complete journal, or the new snapshot and a journal that only holds what came
after it. Compaction runs at start (when the journal is not empty) and while serving when the journal has
grown past max(8 MiB or MOTO_JOURNAL_COMPACT_BYTES, half the snapshot's size): a restart replays a
bounded journal, and the snapshots written add up to no more than twice the journal written.

State lives only here: deleting the directory (what `npm run infra -- --reset` does) starts empty.
"""

import gzip
import io
import json
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import moto
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.responses import DynamoHandler
from werkzeug.test import EnvironBuilder

_TARGET_PREFIX = "DynamoDB_20120810."
_READ_PREFIXES = ("Get", "BatchGet", "Describe", "List")
_READ_ACTIONS = frozenset({"Query", "Scan", "TransactGetItems"})
# Attributes of a DynamoDBBackend that say where it is, not what it holds.
_BACKEND_IDENTITY = frozenset({"region_name", "account_id", "partition"})
_SNAPSHOT = "snapshot.pickle"
_COMPACT_MIN_BYTES = 8 * 1024 * 1024

WsgiResult = tuple[str, list[tuple[str, str]], bytes]


def _log(message: str) -> None:
    print(f"[journal] {message}", file=sys.stderr, flush=True)


def mutating_action(target: str) -> str | None:
    """The DynamoDB action named by an X-Amz-Target header when it may change state, else None."""
    if not target.startswith(_TARGET_PREFIX):
        return None
    action = target[len(_TARGET_PREFIX) :]
    if action in _READ_ACTIONS or action.startswith(_READ_PREFIXES):
        return None
    return action


# The account and region moto resolved for the DynamoDB request being handled (requests are serial).
_scope: tuple[str, str] | None = None


def _record_scope() -> None:
    """Makes DynamoHandler note the account and region it resolved, so the journal replays each request
    into the same backend moto chose (moto's own rules: MOTO_ACCOUNT_ID, x-moto-account-id, access key)."""
    original = DynamoHandler.setup_class
    if getattr(original, "_records_scope", False):
        return

    def setup_class(self: DynamoHandler, *args: Any, **kwargs: Any) -> None:
        global _scope
        original(self, *args, **kwargs)
        _scope = (self.current_account, self.region)

    setup_class._records_scope = True  # type: ignore[attr-defined]
    DynamoHandler.setup_class = setup_class  # type: ignore[method-assign]


def call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> WsgiResult:
    """Runs a WSGI application to the end: status, headers and the whole body."""
    captured: list[Any] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured[:] = [status, headers]
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured[0], captured[1], b"".join(chunks)


def _succeeded(status: str) -> bool:
    return status[:1] == "2"


class Journal:
    """The journal and snapshots in one directory. Not thread-safe: SerialApp calls it under its lock."""

    def __init__(self, directory: str, *, fsync_each: bool | None = None) -> None:
        self.directory = directory
        self.fsync_each = os.environ.get("MOTO_JOURNAL_FSYNC") == "1" if fsync_each is None else fsync_each
        self.generation = 0
        self.snapshot_bytes = 0
        self.compact_min_bytes = int(os.environ.get("MOTO_JOURNAL_COMPACT_BYTES") or _COMPACT_MIN_BYTES)
        self._file: io.BufferedWriter | None = None
        self._lines = 0
        os.makedirs(directory, exist_ok=True)

    def _journal_path(self, generation: int) -> str:
        return os.path.join(self.directory, f"journal-{generation}.jsonl")

    # --- start ---

    def recover(self, app: Callable[..., Iterable[bytes]]) -> None:
        """Loads the snapshot, replays its journal through `app`, drops stale files, compacts when the
        journal held anything, and opens the journal for appends. Call before serving."""
        started = time.monotonic()
        loaded_tables = self._load_snapshot()
        path = self._journal_path(self.generation)
        replayed, failed = self._replay(path, app) if os.path.exists(path) else (0, {})
        for name in os.listdir(self.directory):
            stale = name.startswith("journal-") and name != os.path.basename(path)
            if stale or name.endswith(".tmp"):
                os.remove(os.path.join(self.directory, name))
        elapsed = time.monotonic() - started
        _log(
            f"recovered {self.directory}: snapshot generation {self.generation} ({loaded_tables} tables), "
            f"{replayed} journaled requests replayed in {elapsed:.2f} s"
        )
        if failed:
            _log(
                f"WARNING: {sum(failed.values())} replayed requests failed where they had succeeded "
                f"({', '.join(f'{k}: {v}' for k, v in sorted(failed.items()))}); the state may differ from "
                "before the restart. Reset the local DynamoDB (npm run infra -- --reset) if it matters."
            )
        if replayed:
            self.compact()
        else:
            self._open(self.generation, truncate=False)

    def _load_snapshot(self) -> int:
        path = os.path.join(self.directory, _SNAPSHOT)
        if not os.path.exists(path):
            return 0
        with open(path, "rb") as file:
            header = pickle.load(file)
            if header.get("moto") != moto.__version__:
                raise SystemExit(
                    f"dynamodb_journal: {path} was written by moto {header.get('moto')}, this is moto "
                    f"{moto.__version__}; reset the local DynamoDB (npm run infra -- --reset) to start empty."
                )
            state: dict[str, dict[str, dict[str, Any]]] = pickle.load(file)
        self.generation = int(header["generation"])
        self.snapshot_bytes = os.path.getsize(path)
        tables = 0
        for account_id, regions in state.items():
            for region, attributes in regions.items():
                backend = dynamodb_backends[account_id][region]
                backend.__dict__.update(attributes)
                tables += len(backend.tables)
        return tables

    def _replay(self, path: str, app: Callable[..., Iterable[bytes]]) -> tuple[int, dict[str, int]]:
        with open(path, "rb") as file:
            lines = file.read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        failed: dict[str, int] = {}
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
                action, account, region, body = record["a"], record["acct"], record["r"], record["b"]
            except (ValueError, KeyError, TypeError) as error:
                if number == len(lines):
                    # A torn last line was never acknowledged (it is flushed before the response).
                    _log(f"ignoring the unfinished last line of {path} ({error.__class__.__name__})")
                    lines.pop()
                    self._rewrite(path, lines)
                    break
                raise SystemExit(
                    f"dynamodb_journal: line {number} of {path} is not a journal record ({error}); "
                    "reset the local DynamoDB (npm run infra -- --reset) to start empty."
                ) from error
            status, headers, payload = call_wsgi(app, replay_environ(action, account, region, body))
            if not _succeeded(status):
                error_type = _error_type(payload)
                key = f"{action} {error_type}"
                failed[key] = failed.get(key, 0) + 1
        return len(lines), failed

    @staticmethod
    def _rewrite(path: str, lines: list[bytes]) -> None:
        with open(path, "wb") as file:
            file.write(b"".join(line + b"\n" for line in lines))
            file.flush()
            os.fsync(file.fileno())

    # --- serving ---

    def append(self, action: str, account: str, region: str, body: str) -> None:
        """Writes one record and hands it to the OS (and the disk with MOTO_JOURNAL_FSYNC=1)."""
        assert self._file is not None, "recover() opens the journal"
        line = json.dumps({"a": action, "acct": account, "r": region, "b": body}, separators=(",", ":"))
        self._file.write(line.encode("utf-8", "surrogateescape") + b"\n")
        self._file.flush()
        if self.fsync_each:
            os.fsync(self._file.fileno())
        self._lines += 1

    def compact_if_large(self) -> None:
        assert self._file is not None
        # Half the snapshot, not all of it: a restart's replay stays short however large the data grows
        # (a long replay outlasts the consumers' retries), at twice the snapshot writes.
        if self._file.tell() > max(self.compact_min_bytes, self.snapshot_bytes // 2):
            started = time.monotonic()
            lines = self._lines
            self.compact()
            _log(f"compacted {lines} journaled requests into a snapshot in {time.monotonic() - started:.2f} s")

    def compact(self) -> None:
        """Snapshot of the current state as generation g+1, then a fresh journal g+1 (see the module)."""
        state: dict[str, dict[str, dict[str, Any]]] = {}
        for account_id, regions in dynamodb_backends.items():
            for region, backend in regions.items():
                attributes = {k: v for k, v in vars(backend).items() if k not in _BACKEND_IDENTITY}
                state.setdefault(account_id, {})[region] = attributes
        generation = self.generation + 1
        path = os.path.join(self.directory, _SNAPSHOT)
        temporary = f"{path}.tmp"
        with open(temporary, "wb") as file:
            pickle.dump({"moto": moto.__version__, "generation": generation}, file)
            pickle.dump(state, file, protocol=pickle.HIGHEST_PROTOCOL)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        self._fsync_directory()
        previous = self.generation
        self.generation = generation
        self.snapshot_bytes = os.path.getsize(path)
        self._open(generation, truncate=True)
        try:
            os.remove(self._journal_path(previous))
        except FileNotFoundError:
            pass

    def _open(self, generation: int, *, truncate: bool) -> None:
        if self._file is not None:
            self._file.close()
        path = self._journal_path(generation)
        self._file = open(path, "wb" if truncate else "ab")  # noqa: SIM115 (kept open while serving)
        if truncate:
            os.fsync(self._file.fileno())
            self._fsync_directory()
        self._lines = 0

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _error_type(payload: bytes) -> str:
    try:
        error_type = json.loads(payload).get("__type", "")
    except (ValueError, AttributeError):
        return "error"
    return str(error_type).rsplit("#", 1)[-1] or "error"


def replay_environ(action: str, account: str, region: str, body: str) -> dict[str, Any]:
    """A WSGI environ for a journaled request: moto resolves the same account (x-moto-account-id) and
    region (the credential scope) it resolved the first time. No credential is journaled."""
    data = body.encode("utf-8", "surrogateescape")
    environ = dict(_REPLAY_ENVIRON)
    environ.update(
        {
            "wsgi.input": io.BytesIO(data),
            "CONTENT_LENGTH": str(len(data)),
            "HTTP_X_AMZ_TARGET": f"{_TARGET_PREFIX}{action}",
            "HTTP_X_MOTO_ACCOUNT_ID": account,
            "HTTP_AUTHORIZATION": (
                f"AWS4-HMAC-SHA256 Credential=journal/20000101/{region}/dynamodb/aws4_request, "
                "SignedHeaders=host;x-amz-target, Signature=0"
            ),
        }
    )
    return environ


# What werkzeug's EnvironBuilder makes for a POST to http://localhost/ (built once: replay is hot).
_REPLAY_ENVIRON: dict[str, Any] = {
    k: v
    for k, v in EnvironBuilder(path="/", method="POST", headers={"Host": "localhost"}).get_environ().items()
    if k not in ("wsgi.input", "CONTENT_LENGTH")
}
_REPLAY_ENVIRON["CONTENT_TYPE"] = "application/x-amz-json-1.0"


class SerialApp:
    """The WSGI application the server calls: one request at a time through moto (its DynamoDB backend
    has no locking), each mutating DynamoDB request that succeeded journaled before its response leaves.
    `handle` returns the whole response so that the caller writes it outside the lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]], journal: Journal | None) -> None:
        self._app = app
        self._journal = journal
        self._lock = threading.Lock()
        if journal is not None:
            _record_scope()

    def recover(self) -> None:
        if self._journal is not None:
            with self._lock:
                self._journal.recover(self._app)

    def handle(self, environ: dict[str, Any], body: bytes) -> WsgiResult:
        global _scope
        if environ.get("HTTP_CONTENT_ENCODING", "").strip().lower() == "gzip":
            # What moto would do itself; the journal then holds the plain body.
            body = gzip.decompress(body)
            del environ["HTTP_CONTENT_ENCODING"]
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        journal = self._journal
        action = mutating_action(environ.get("HTTP_X_AMZ_TARGET", "")) if journal is not None else None
        with self._lock:
            _scope = None
            status, headers, payload = call_wsgi(self._app, environ)
            if journal is None or not _succeeded(status):
                return status, headers, payload
            if action is not None:
                if _scope is None:
                    self._die("a DynamoDB write succeeded without moto resolving its account and region")
                try:
                    journal.append(action, _scope[0], _scope[1], body.decode("utf-8", "surrogateescape"))
                    journal.compact_if_large()
                except OSError as error:
                    self._die(f"the journal could not be written ({error})")
            elif environ.get("PATH_INFO") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
                try:
                    journal.compact()  # moto emptied every backend: so does the persisted state
                except OSError as error:
                    self._die(f"the journal could not be written ({error})")
        return status, headers, payload

    @staticmethod
    def _die(reason: str) -> None:
        # The write is in memory but not journaled: answering it would acknowledge what a restart loses.
        # Exiting unacknowledged keeps memory and journal the same, as a crash before the write would.
        _log(f"FATAL: {reason}; exiting without answering")
        os._exit(70)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        stream = environ["wsgi.input"]
        terminated = environ.get("wsgi.input_terminated")
        body = stream.read() if terminated else stream.read(int(environ.get("CONTENT_LENGTH") or 0))
        status, headers, payload = self.handle(environ, body)
        start_response(status, headers)
        return [payload]
