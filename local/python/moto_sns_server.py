"""moto's server as the local SNS endpoint (and SQS, which tests subscribe to the topics).

    moto_sns_server.py [-H 127.0.0.1] [-p 5000]

One request at a time through moto (its backends have no locking), over connections kept alive between
requests (werkzeug's own server closes every connection, so a client would pay a TCP connect per call).
Requests are not logged one by one (errors still are); two lookups moto repeats for every request are cached.
Topics and queues live in memory: provisioning creates them again at every start.
"""

import argparse
import functools
import gzip
import io
import os
import signal
import sys
import threading
import traceback
from email.utils import formatdate
from typing import Any

import moto.backends
import moto.core.responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

_list_of_moto_modules = moto.backends.list_of_moto_modules
_method_names_from_class = moto.core.responses.method_names_from_class


def cache_per_request_lookups() -> None:
    """A listing of moto's package directory and the handler's method names: neither changes while it runs."""
    moto.backends.list_of_moto_modules = functools.cache(lambda: tuple(_list_of_moto_modules()))
    moto.core.responses.method_names_from_class = functools.cache(_method_names_from_class)


class SerialApp:
    """One request at a time through moto; `handle` returns the whole response, written outside the lock."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def handle(self, environ: dict[str, Any], body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        if environ.get("HTTP_CONTENT_ENCODING", "").strip().lower() == "gzip":
            body = gzip.decompress(body)
            del environ["HTTP_CONTENT_ENCODING"]
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        answer: dict[str, Any] = {}
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = status, headers
            return written.append

        with self._lock:
            result = self._app(environ, start_response)
            try:
                written.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return answer["status"], answer["headers"], b"".join(written)


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler answering HTTP/1.1 with a Content-Length, the whole body read before moto runs:
    werkzeug's run_wsgi always closes the connection, because it cannot drain an unread body."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment: with Nagle and delayed ACKs, a response written in two parts
    # waits ~40 ms on a kept-alive connection.
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
        pass  # one line per request costs as much as a publish; errors are still logged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    cache_per_request_lookups()
    serial_app = SerialApp(DomainDispatcherApplication(create_backend_app))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    server = make_server(args.host, args.port, serial_app, threaded=True, request_handler=KeepAliveHandler)
    server.serial_app = serial_app  # type: ignore[attr-defined]
    print(f"moto_sns_server: serving on http://{args.host}:{server.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
