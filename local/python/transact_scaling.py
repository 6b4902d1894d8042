"""How TransactWriteItems' cost grows with the size of a table it touches, with the project's patch.

Runs moto in-process (no server) with moto_server_serial's transaction patch (or without it: --unpatched),
fills an orders table to several sizes and times, at each size, a conditional PutItem and a PutItem +
TransactWriteItems (2 stock lines + 1 order update, like the inventory's reservation). Prints figures only.

    .local/venv/bin/python local/python/transact_scaling.py [--unpatched]
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree by the import below

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from moto_server_serial import patch_transact_write_items  # noqa: E402

os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
RUNS = 50


def stock(sku: str) -> dict:
    return {
        "Update": {
            "TableName": "inv",
            "Key": {"sku": {"S": sku}},
            "UpdateExpression": "SET available = available - :q",
            "ConditionExpression": "available >= :q",
            "ExpressionAttributeValues": {":q": {"N": "1"}},
        }
    }


def main() -> None:
    patched = "--unpatched" not in sys.argv[1:]
    if patched:
        patch_transact_write_items()
    print(f"moto TransactWriteItems {'patched' if patched else 'unpatched'}")
    with mock_aws():
        d = boto3.client("dynamodb")
        for table, key in [("orders", "orderId"), ("inv", "sku"), ("idem", "id")]:
            d.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        for s in range(8):
            d.put_item(TableName="inv", Item={"sku": {"S": f"S{s}"}, "available": {"N": "100000000"}})
        history = {"L": [{"M": {"status": {"S": "X"}, "at": {"S": "2026-01-01T00:00:00Z"}}} for _ in range(7)]}
        n = 0
        for size in [0, 200, 1000, 3000]:
            while n < size:
                d.put_item(
                    TableName="orders",
                    Item={"orderId": {"S": f"o{n}"}, "status": {"S": "RECEIVED"}, "history": history, "pad": {"S": "x" * 1500}},
                )
                n += 1
            t0 = time.perf_counter()
            for i in range(RUNS):
                d.put_item(
                    TableName="idem",
                    Item={"id": {"S": f"k{size}-{i}"}, "v": {"S": "x"}},
                    ConditionExpression="attribute_not_exists(id)",
                )
            put = (time.perf_counter() - t0) / RUNS * 1000
            t0 = time.perf_counter()
            for i in range(RUNS):
                order_id = {"S": f"t{size}-{i}"}
                d.put_item(TableName="orders", Item={"orderId": order_id, "status": {"S": "RECEIVED"}})
                d.transact_write_items(
                    TransactItems=[
                        stock("S1"),
                        stock("S2"),
                        {
                            "Update": {
                                "TableName": "orders",
                                "Key": {"orderId": order_id},
                                "UpdateExpression": "SET #s = :c",
                                "ConditionExpression": "#s = :r",
                                "ExpressionAttributeNames": {"#s": "status"},
                                "ExpressionAttributeValues": {":c": {"S": "CONFIRMED"}, ":r": {"S": "RECEIVED"}},
                            }
                        },
                    ]
                )
            transact = (time.perf_counter() - t0) / RUNS * 1000
            print(f"orders in table {size:5d}: put {put:.2f} ms, put+transact {transact:.2f} ms")
        # The figures mean nothing if the transactions did not apply.
        left = d.get_item(TableName="inv", Key={"sku": {"S": "S1"}})["Item"]["available"]["N"]
        assert int(left) == 100000000 - 4 * RUNS, left


if __name__ == "__main__":
    main()
