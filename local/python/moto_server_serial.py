"""moto's server (same options as `moto_server`), handling one request at a time.

moto's DynamoDB backend has no locking, and a cancelled TransactWriteItems restores every table it
touched from a copy taken when it started: under the threaded server, writes that other requests made
meanwhile are silently lost, and conditional writes are not atomic. DynamoDB itself is atomic per item,
and the pipeline's guarantees (no overselling, exactly-once effects) rely on that, so the local endpoint
serves requests serially. Without threads werkzeug also answers with HTTP/1.0 and closes each
connection, so one idle keep-alive client cannot hold the server.
"""

import moto.server
from werkzeug.serving import run_simple


def _serial_run_simple(*args, **kwargs):
    kwargs["threaded"] = False
    return run_simple(*args, **kwargs)


moto.server.run_simple = _serial_run_simple

if __name__ == "__main__":
    moto.server.main()
