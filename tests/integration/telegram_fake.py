#!/usr/bin/env python3
"""A fake Telegram Bot API for the telegram input's tests: getUpdates on
loopback (port 0, written to PORT_FILE), with Telegram's offset rules.

  telegram_fake.py PORT_FILE DIR TOKEN

DIR/updates.jsonl   updates, one JSON object a line; the test appends.
DIR/faults          one line is taken per request, instead of an answer:
                    "429 SECS", "500", "502", "malformed", "truncated",
                    "file PATH" (PATH's bytes as a 200 answer).
DIR/delay           seconds to wait before each answer with updates.
DIR/gate            if present, only updates with ids below it are served.
DIR/requests.jsonl  one line per request: time, offset, limit, timeout,
                    allowed_updates, the update ids answered, the fault.
A token other than TOKEN gets 401.
"""
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, root, token = sys.argv[1:4]
lock = threading.Lock()
confirmed = [0]


def path(n):
    return os.path.join(root, n)


def read_updates():
    try:
        with open(path("updates.jsonl"), encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def take_fault():
    with lock:
        try:
            with open(path("faults")) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return None
        lines = [l for l in lines if l]
        if not lines:
            return None
        with open(path("faults") + ".tmp", "w") as f:
            f.write("".join(l + "\n" for l in lines[1:]))
        os.replace(path("faults") + ".tmp", path("faults"))
        return lines[0]


def delay():
    try:
        return float(open(path("delay")).read() or 0)
    except (FileNotFoundError, ValueError):
        return 0.0


def gate():
    try:
        return int(open(path("gate")).read())
    except (FileNotFoundError, ValueError):
        return None


def log(entry):
    with lock, open(path("requests.jsonl"), "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a stop cancels its poll)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(n) or b"{}")
        if self.path != "/bot%s/getUpdates" % token:
            log({"t": time.time(), "unauthorized": True})
            return self.answer(401, {"ok": False, "error_code": 401,
                                     "description": "Unauthorized"})
        entry = {"t": time.time(), "offset": req.get("offset"),
                 "limit": req.get("limit"), "timeout": req.get("timeout"),
                 "allowed": req.get("allowed_updates"), "served": []}
        fault = take_fault()
        if fault is not None:
            entry["fault"] = fault
            log(entry)
            return self.fault(fault)
        with lock:
            if req.get("offset") is not None:
                confirmed[0] = max(confirmed[0], req["offset"])
            low = confirmed[0]
        end = time.time() + min(req.get("timeout", 0), 2)
        while True:
            g = gate()
            ups = [u for u in read_updates() if u["update_id"] >= low
                   and (g is None or u["update_id"] < g)]
            if ups or time.time() >= end:
                break
            time.sleep(0.02)
        ups = sorted(ups, key=lambda u: u["update_id"])[:req.get("limit", 100)]
        if ups and delay():
            time.sleep(delay())
        entry["served"] = [u["update_id"] for u in ups]
        log(entry)
        self.answer(200, {"ok": True, "result": ups})

    def fault(self, fault):
        word = fault.split(" ", 1)
        if word[0] == "429":
            self.answer(429, {"ok": False, "error_code": 429,
                              "description": "Too Many Requests: retry after " + word[1],
                              "parameters": {"retry_after": int(word[1])}})
        elif word[0] in ("500", "502"):
            self.answer(int(word[0]), b"<html>Bad Gateway</html>")
        elif word[0] == "malformed":
            self.answer(200, b'{"ok": true, "result": [{"update_id": 1,]}')
        elif word[0] == "truncated":
            self.answer(200, b'{"ok": true, "result": [{"update_id": 99, "message": {"text": "\xd0\x9f')
        elif word[0] == "file":
            self.answer(200, open(word[1], "rb").read())


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(port_file + ".tmp", port_file)
srv.serve_forever()
