"""moto's server, handling one request at a time over keep-alive connections, with transactions whose
cost does not grow with the tables and DynamoDB state that survives a restart (dynamodb_journal.py).

    moto_server_serial.py [-H 127.0.0.1] [-p 5000] [--state-dir DIR]

Serial: moto's DynamoDB backend has no locking, so under the threaded server conditional writes are not
atomic and a cancelled TransactWriteItems loses writes that other requests made meanwhile. DynamoDB itself
is atomic per item, and the pipeline's guarantees (no overselling, exactly-once effects) rely on that, so
the local endpoint runs requests serially: one lock around moto (SerialApp). Connections are not serial:
each has its own thread, kept alive between requests (HTTP/1.1), so a client pays no TCP connect per call
and an idle keep-alive client holds nothing. (werkzeug's own server closes every connection.) Requests are
not logged one by one (errors still are), and two lookups moto repeats for every request (a listing of its
package directory, the handler's method names) are cached. Per call, from 4 keep-alive clients
(npm run bench:dynamodb, PutItem/UpdateItem/GetItem of 1 KB items, 2 cores under load): see local/README.md.

All or nothing: moto's UpdateItem can leave an item created or half updated when it fails after its
condition (an item grown too large, an ADD to a string), and BatchWriteItem keeps the puts before the one
that failed. DynamoDB applies neither; the journal replays only requests that succeeded, so both are made
all or nothing here with the transaction patch's save-and-restore of the named items.

Transactions: moto 5.2.5's TransactWriteItems deep-copies every table a transact item names (once per
item) so that it can roll back, which makes every reservation slower as orders accumulate. The patch keeps
moto's own transaction code (conditions, CancellationReasons, ReturnValuesOnConditionCheckFailure) but
saves only the items the transaction names, by key, and on failure puts back exactly those. Serial
serving is what makes that enough: no other request can run in the middle of a transaction. (moto
ignores ClientRequestToken; so does the patch.)
Measured in-process by transact_scaling.py (put + TransactWriteItems of 2 stock lines and 1 order update,
like the reservation; ms per pair, 2 cores under load average ~3; a plain conditional PutItem ~1 ms):
    orders stored      0     200    1,000   3,000
    moto 5.2.5        7.4   22.2    89.7   239.7
    patched           4.2    4.0     4.0     4.0
"""

import argparse
import copy
import functools
import hashlib
import inspect
import io
import os
import signal
import sys
import types
from email.utils import formatdate
from typing import Any

import moto
import moto.backends
import moto.core.responses
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

sys.dont_write_bytecode = True  # no __pycache__ in the source tree for the module below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dynamodb_journal import Journal, SerialApp  # noqa: E402

# What the transaction patch was written against; anything else must be re-read before it is trusted.
_MOTO_VERSION = "5.2.5"
_TRANSACT_SOURCE_SHA256 = "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"


class _LiveTables:
    """Stands for the `copy` module inside moto's transact_write_items only: its "backup" of each table is
    the live table itself, so its rollback (`self.tables[name] = backup`) changes nothing. The wrapper
    saves and restores the named items instead."""

    @staticmethod
    def deepcopy(table: Table) -> Table:
        return table


# One saved item: its table, its key, whether a range table already had the hash bucket, and a copy of the
# item as it was (None: it did not exist).
_SavedItem = tuple[Table, DynamoType, DynamoType | None, bool, Item | None]


def _save_named_items(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]]
) -> tuple[list[_SavedItem], list[tuple[StreamShard, int]]]:
    """Copies, before anything is applied, every item a Put, Update or Delete names, keyed as moto keys
    it. Items moto would refuse before writing (no table, a key attribute missing, not a dict) are
    skipped: moto never writes them. Cost: the size of the named items, not of their tables."""
    saved: list[_SavedItem] = []
    seen: set[tuple[int, DynamoType, DynamoType | None]] = set()
    shards: dict[int, tuple[StreamShard, int]] = {}
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            if op_type not in ("Put", "Update", "Delete"):
                continue  # ConditionCheck writes nothing
            table = backend.get_table(op["TableName"])
            attrs = op["Item"] if op_type == "Put" else op["Key"]
            hash_value = DynamoType(attrs[table.hash_key_attr])
            range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        except Exception:
            continue
        if (id(table), hash_value, range_value) in seen:
            continue  # moto refuses the transaction (one operation per item); the first copy is the one
        seen.add((id(table), hash_value, range_value))
        # Read without table.get_item: on a range table it would create an empty hash bucket.
        bucket = table.items.get(hash_value)
        current = bucket.get(range_value) if range_value is not None and bucket is not None else bucket
        saved.append((table, hash_value, range_value, bucket is not None, copy.deepcopy(current)))
        if table.stream_shard is not None and id(table) not in shards:
            shards[id(table)] = (table.stream_shard, len(table.stream_shard.items))
    return saved, list(shards.values())


def _restore(saved: list[_SavedItem], shards: list[tuple[StreamShard, int]]) -> None:
    """Puts every named item back as it was: updated or overwritten ones get their old copy, deleted ones
    come back, created ones go. Stream records the cancelled writes appended are dropped, as moto's table
    copy did."""
    for table, hash_value, range_value, had_bucket, old in saved:
        if range_value is None:
            if old is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = old
            continue
        bucket = table.items.get(hash_value)
        if old is not None:
            table.items[hash_value][range_value] = old  # defaultdict: recreates the bucket if needed
        elif bucket is not None:
            bucket.pop(range_value, None)
            if not bucket and not had_bucket:
                del table.items[hash_value]
    for shard, length in shards:
        del shard.items[length:]


def patch_transact_write_items() -> None:
    """Replaces DynamoDBBackend.transact_write_items (see the module's docstring). Refuses to start on a
    moto whose transaction code is not the one this patch was written for."""
    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_saves_named_items_only", False):
        return
    problem = None
    if moto.__version__ != _MOTO_VERSION:
        problem = f"moto {moto.__version__} is installed"
    else:
        try:
            source = inspect.getsource(original)
        except (OSError, TypeError) as error:
            problem = f"the source of DynamoDBBackend.transact_write_items cannot be read ({error})"
        else:
            if hashlib.sha256(source.encode()).hexdigest() != _TRANSACT_SOURCE_SHA256:
                problem = "DynamoDBBackend.transact_write_items is not the code the patch was written for"
            elif "copy" not in original.__code__.co_names or original.__globals__.get("copy") is not copy:
                problem = "DynamoDBBackend.transact_write_items does not take its table backups with copy"
    if problem:
        raise SystemExit(
            f"moto_server_serial.py: {problem}; its TransactWriteItems patch was written for moto "
            f"{_MOTO_VERSION} (pinned in local/python/requirements.txt). Re-read moto's "
            "dynamodb/models/__init__.py transact_write_items, then update the patch and its expected hash."
        )

    # moto's own code, run with `copy` meaning _LiveTables: every check and error stays moto's.
    moto_transaction = types.FunctionType(
        original.__code__,
        {**original.__globals__, "copy": _LiveTables},
        original.__name__,
        original.__defaults__,
        original.__closure__,
    )

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved, shards = _save_named_items(self, transact_items)
        try:
            moto_transaction(self, transact_items)
        except BaseException:
            # Any failure cancels everything, including the ones moto would leave half applied
            # (several operations in one transact item).
            _restore(saved, shards)
            raise

    transact_write_items._saves_named_items_only = True  # type: ignore[attr-defined]
    transact_write_items.__doc__ = original.__doc__
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _saving_named_items(entries: Any, backend: DynamoDBBackend, run: Any) -> Any:
    saved, shards = _save_named_items(backend, entries)
    try:
        return run()
    except BaseException:
        _restore(saved, shards)
        raise


def patch_all_or_nothing_writes() -> None:
    """UpdateItem and BatchWriteItem put back the items they name when they fail (see the module)."""
    update_item = DynamoDBBackend.update_item
    batch_write_item = DynamoHandler.batch_write_item
    if getattr(update_item, "_all_or_nothing", False):
        return

    @functools.wraps(update_item)
    def all_or_nothing_update(self: DynamoDBBackend, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
        entries = [{"Update": {"TableName": table_name, "Key": key}}]
        return _saving_named_items(entries, self, lambda: update_item(self, table_name, key, *args, **kwargs))

    @functools.wraps(batch_write_item)
    def all_or_nothing_batch(self: DynamoHandler) -> Any:
        entries: list[dict[str, Any]] = []
        request_items = self.body.get("RequestItems") if isinstance(self.body, dict) else None
        for table_name, requests in (request_items or {}).items():
            for request in requests if isinstance(requests, list) else []:
                if isinstance(request, dict) and isinstance(request.get("PutRequest"), dict):
                    entries.append({"Put": {"TableName": table_name, "Item": request["PutRequest"].get("Item")}})
                elif isinstance(request, dict) and isinstance(request.get("DeleteRequest"), dict):
                    entries.append({"Delete": {"TableName": table_name, "Key": request["DeleteRequest"].get("Key")}})
        return _saving_named_items(entries, self.dynamodb_backend, lambda: batch_write_item(self))

    all_or_nothing_update._all_or_nothing = True  # type: ignore[attr-defined]
    DynamoDBBackend.update_item = all_or_nothing_update  # type: ignore[method-assign]
    DynamoHandler.batch_write_item = all_or_nothing_batch  # type: ignore[method-assign]


def cache_per_request_lookups() -> None:
    """moto lists its package directory (one stat per service) and collects the handler's method names
    (inspect.getmembers) on every request; neither changes while the server runs."""
    moto.backends.list_of_moto_modules = functools.cache(lambda: tuple(_list_of_moto_modules()))
    moto.core.responses.method_names_from_class = functools.cache(_method_names_from_class)


_list_of_moto_modules = moto.backends.list_of_moto_modules
_method_names_from_class = moto.core.responses.method_names_from_class


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler (its environ, underscored headers kept) answering HTTP/1.1 with a
    Content-Length and keeping the connection open, the whole request body read before the application
    runs. werkzeug's run_wsgi always closes the connection, because it cannot drain an unread body."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment, at once: with Nagle and delayed ACKs, a response written in
    # two parts waits ~40 ms on a kept-alive connection.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: Any

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        stream = environ["wsgi.input"]
        if environ.get("wsgi.input_terminated"):
            body = stream.read()  # chunked: werkzeug's DechunkedInput stops at the last chunk
        else:
            body = stream.read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO()
        try:
            status, headers, payload = self.server.serial_app.handle(environ, body)
        except Exception:
            self.log_error("error handling %s %s", self.command, self.path)
            import traceback

            traceback.print_exc()
            status, headers, payload = "500 Internal Server Error", [("Content-Type", "text/plain")], b"error"
        code, _, reason = status.partition(" ")
        self.send_response_only(int(code), reason)
        names = set()
        for name, value in headers:
            lower = name.lower()
            if lower in ("connection", "transfer-encoding", "content-length"):
                continue
            names.add(lower)
            self.send_header(name, value)
        if "date" not in names:
            self.send_header("Date", formatdate(usegmt=True))
        if "server" not in names:
            self.send_header("Server", self.version_string())
        bodiless = self.command == "HEAD" or int(code) in (204, 304) or 100 <= int(code) < 200
        length = dict((k.lower(), v) for k, v in headers).get("content-length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(0 if bodiless else len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless:
            self.wfile.write(payload)
        self.wfile.flush()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request cost as much as a GetItem; errors are still logged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    parser.add_argument("--state-dir", help="keep DynamoDB state here (journal and snapshots); none: memory only")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))

    patch_transact_write_items()
    patch_all_or_nothing_writes()
    cache_per_request_lookups()
    dispatcher = DomainDispatcherApplication(create_backend_app)
    serial_app = SerialApp(dispatcher, Journal(args.state_dir) if args.state_dir else None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    # Replayed before the port is bound: nothing can be served from a half-restored state.
    serial_app.recover()
    server = make_server(args.host, args.port, serial_app, threaded=True, request_handler=KeepAliveHandler)
    server.serial_app = serial_app  # type: ignore[attr-defined]
    print(f"moto_server_serial: serving on http://{args.host}:{server.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
