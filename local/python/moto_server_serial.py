"""moto's server (same options as `moto_server`), handling one request at a time, with transactions whose
cost does not grow with the tables.

Serial: moto's DynamoDB backend has no locking, so under the threaded server conditional writes are not
atomic and a cancelled TransactWriteItems loses writes that other requests made meanwhile. DynamoDB itself
is atomic per item, and the pipeline's guarantees (no overselling, exactly-once effects) rely on that, so
the local endpoint serves requests serially. Without threads werkzeug also answers with HTTP/1.0 and closes
each connection, so one idle keep-alive client cannot hold the server.

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

import copy
import hashlib
import inspect
import types
from typing import Any

import moto
import moto.server
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamShard, Table
from werkzeug.serving import run_simple

# What the transaction patch was written against; anything else must be re-read before it is trusted.
_MOTO_VERSION = "5.2.5"
_TRANSACT_SOURCE_SHA256 = "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"


def _serial_run_simple(*args: Any, **kwargs: Any) -> Any:
    kwargs["threaded"] = False
    return run_simple(*args, **kwargs)


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


if __name__ == "__main__":
    patch_transact_write_items()
    moto.server.run_simple = _serial_run_simple
    moto.server.main()
