"""A webhook receiver for tests/integration/webhook.sh (stdlib only).

It checks X-Vigil-Signature exactly as doc/sinks/webhook.md tells
receivers to, and records one JSON line per request in the log file:
{"path", "status", "verified", "reason", "id", "headers", "body"}.

Paths:
  /good        verify with --key; 204
  /flaky       verify with --key; 503 with Retry-After: 1 for the first
               --flaky requests, then 204
  /bad         verify with --key; 400 with a short body
  /wrongkey    verify with --wrong-key (not vigil's key): 401
  /slack, /mattermost
               no signature expected; 200 "ok", as those services answer
Any request whose signature does not verify gets 401.

Usage: webhook_receiver.py PORTFILE LOG --key FILE --wrong-key FILE
       [--flaky N]
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 300  # seconds a signature stays good, as the doc advises


def read_key(path):
    """The key as vigil reads secret_file: trailing line breaks dropped."""
    with open(path, "rb") as f:
        return f.read().rstrip(b"\r\n")


def verify(key, header, body, now=None):
    """doc/sinks/webhook.md, "Checking the signature". Returns a reason
    for refusing the request, or None when it is good."""
    if header is None:
        return "no signature"
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    t, v1 = fields.get("t", ""), fields.get("v1", "")
    if not t.isdigit() or not v1:
        return "malformed signature"
    now = int(time.time()) if now is None else now
    if abs(now - int(t)) > TOLERANCE:
        return "timestamp out of tolerance"
    expected = hmac.new(key, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, v1):
        return "signature mismatch"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = self.path
        signed = path not in ("/slack", "/mattermost")
        key = srv.wrong_key if path == "/wrongkey" else srv.key
        reason = verify(key, self.headers.get("X-Vigil-Signature"), body) if signed else None
        alert_id = None
        try:
            doc = json.loads(body)
            if isinstance(doc, dict) and isinstance(doc.get("alert"), dict):
                alert_id = doc["alert"].get("id")
        except ValueError:
            reason = reason or "body is not JSON"
        with srv.lock:  # the log keeps the order of the answers
            status, extra, reply = 204, [], b""
            if reason is not None:
                status, reply = 401, reason.encode()
            elif path == "/flaky" and srv.flaky_left > 0:
                srv.flaky_left -= 1
                status, extra, reply = 503, [("Retry-After", "1")], b"busy"
            elif path == "/bad":
                status, reply = 400, b"no such hook\x01"
            elif path in ("/slack", "/mattermost"):
                status, reply = 200, b"ok"
            elif path not in ("/good", "/flaky"):
                status = 404
            record = {
                "path": path,
                "status": status,
                "verified": signed and reason is None,
                "reason": reason,
                "id": alert_id,
                "time": time.time(),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            srv.log.write(json.dumps(record) + "\n")
            srv.log.flush()
        self.answer(status, reply, extra)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # vigil opens many connections at once


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("portfile")
    ap.add_argument("log")
    ap.add_argument("--key", required=True)
    ap.add_argument("--wrong-key", required=True)
    ap.add_argument("--flaky", type=int, default=3)
    args = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.key = read_key(args.key)
    srv.wrong_key = read_key(args.wrong_key)
    srv.flaky_left = args.flaky
    srv.lock = threading.Lock()
    srv.log = open(args.log, "a", encoding="utf-8")
    with open(args.portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(args.portfile + ".tmp", args.portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
