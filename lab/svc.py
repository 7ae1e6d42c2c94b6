#!/usr/bin/env python3
"""One lab service: an HTTP server that calls its peers, exposes Prometheus
metrics named as OpenTelemetry's HTTP semantic conventions (or the classic
`http_requests_total` naming with LAB_NAMING=classic), writes JSON log lines
and obeys a control file (state/control/<name>.json) that faults edit.

Usage: svc.py NAME   (environment: LAB_STATE, LAB_VERSION, LAB_NAMING)
Standard library only.
"""

import http.client
import json
import os
import random
import socket
import sqlite3
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAB = os.path.dirname(os.path.abspath(__file__))
NAME = sys.argv[1]
STATE = os.environ["LAB_STATE"]
TOPO = json.load(open(os.path.join(LAB, "topology.json")))
ME = TOPO["services"][NAME]
NS = TOPO["namespace"]
POD = os.environ.get("LAB_POD", NAME)
VERSION = os.environ.get("LAB_VERSION", "1.4.2")
CLASSIC = os.environ.get("LAB_NAMING") == "classic"
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
TIMEOUT_S = 2.0

# ---------------------------------------------------------------- logging

_log_lock = threading.Lock()
_log = open(os.path.join(STATE, "logs", f"{NAME}.log"), "a", buffering=1)


def log(level, message, **fields):
    rec = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "level": level,
           "service": NAME, "pod": POD, "message": message}
    rec.update(fields)
    with _log_lock:
        _log.write(json.dumps(rec) + "\n")


# ---------------------------------------------------------------- metrics


class Histogram:
    """A Prometheus histogram family keyed by a tuple of label pairs."""

    def __init__(self):
        self.lock = threading.Lock()
        self.series = {}

    def observe(self, labels, seconds):
        key = tuple(sorted(labels.items()))
        with self.lock:
            s = self.series.setdefault(key, [[0] * len(BUCKETS), 0.0, 0])
            for i, b in enumerate(BUCKETS):
                if seconds <= b:
                    s[0][i] += 1
            s[1] += seconds
            s[2] += 1

    def render(self, name, out):
        out.append(f"# TYPE {name} histogram")
        with self.lock:
            items = [(k, ([*v[0]], v[1], v[2])) for k, v in self.series.items()]
        for key, (counts, total, n) in sorted(items):
            lab = ",".join(f'{k}="{v}"' for k, v in key)
            sep = "," if lab else ""
            for b, c in zip(BUCKETS, counts):
                out.append(f'{name}_bucket{{{lab}{sep}le="{b}"}} {c}')
            out.append(f'{name}_bucket{{{lab}{sep}le="+Inf"}} {n}')
            out.append(f"{name}_sum{{{lab}}} {total:.6f}")
            out.append(f"{name}_count{{{lab}}} {n}")


SERVER = Histogram()
CLIENT = Histogram()
START = time.time()


def metrics_text():
    out = []
    if CLASSIC:
        # The older client_golang/client_python names; `job`/`instance` come from the scrape.
        out.append("# TYPE http_requests_total counter")
        with SERVER.lock:
            rows = [(dict(k), v[2]) for k, v in SERVER.series.items()]
        for lab, n in sorted(rows, key=lambda r: sorted(r[0].items())):
            out.append(f'http_requests_total{{method="GET",handler="{lab["http_route"]}",'
                       f'code="{lab["http_response_status_code"]}"}} {n}')
        renamed = Histogram()
        with SERVER.lock:
            for k, v in SERVER.series.items():
                d = dict(k)
                renamed.series[(("handler", d["http_route"]), ("method", "GET"))] = v
        renamed.render("http_request_duration_seconds", out)
        t = os.times()
        out.append("# TYPE process_cpu_seconds_total counter")
        out.append(f"process_cpu_seconds_total {t.user + t.system:.3f}")
        out.append("# TYPE process_resident_memory_bytes gauge")
        out.append(f"process_resident_memory_bytes {rss_bytes()}")
        out.append("# TYPE process_start_time_seconds gauge")
        out.append(f"process_start_time_seconds {START:.3f}")
    else:
        SERVER.render("http_server_request_duration_seconds", out)
        CLIENT.render("http_client_request_duration_seconds", out)
    if ME["kind"] == "db":
        POOL.render(out)
    if "volume_bytes" in ME:
        used = dir_bytes(volume_dir())
        base = f'service="{NAME}",namespace="{NS}",persistentvolumeclaim="{NAME}-data"'
        out.append("# TYPE kubelet_volume_stats_used_bytes gauge")
        out.append(f"kubelet_volume_stats_used_bytes{{{base}}} {used}")
        out.append("# TYPE kubelet_volume_stats_capacity_bytes gauge")
        out.append(f"kubelet_volume_stats_capacity_bytes{{{base}}} {ME['volume_bytes']}")
    return "\n".join(out) + "\n"


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


# ---------------------------------------------------------------- control

CONTROL = {}
CONFIG = {}


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as e:
        log("error", f"cannot parse {path}: {e}")
        return None


def watch():
    """Re-reads the control file (faults) and the config file every second."""
    global CONTROL
    seen = {}
    while True:
        for path, apply in ((control_path(), set_control), (config_path(), set_config)):
            try:
                m = os.stat(path).st_mtime
            except FileNotFoundError:
                m = 0
            if seen.get(path) != m:
                seen[path] = m
                v = read_json(path)
                if v is not None:
                    apply(v)
        time.sleep(1)


def control_path():
    return os.path.join(STATE, "control", f"{NAME}.json")


def config_path():
    return os.path.join(STATE, "config", f"{NAME}.json")


def set_control(v):
    global CONTROL
    CONTROL = v
    if v.get("burn_threads"):
        for _ in range(int(v["burn_threads"]) - len(BURNERS)):
            t = threading.Thread(target=burn, daemon=True)
            BURNERS.append(t)
            t.start()
    if ME["kind"] == "db":
        POOL.resize(int(v.get("held_connections", 0)))
    if ME.get("tls"):
        reload_tls(v.get("cert", "payments"))


def set_config(v):
    global CONFIG
    if CONFIG and v != CONFIG:
        changed = sorted(k for k in set(v) | set(CONFIG) if v.get(k) != CONFIG.get(k))
        log("info", "config reloaded", changed=",".join(changed))
    CONFIG = v


BURNERS = []


def burn():
    """CPU work for the cpu_saturation fault: hashing in a loop."""
    x = b"inquest"
    while True:
        if CONTROL.get("burn_threads"):
            for _ in range(20000):
                x = bytes(reversed(x))
        else:
            time.sleep(0.5)


LEAK = []


def leak():
    """Memory for the memory_leak fault: kept forever, touched so it is resident."""
    while True:
        mb = float(CONTROL.get("leak_mb_per_s", 0))
        if mb > 0:
            LEAK.append(bytearray(os.urandom(1)) * int(mb * 1024 * 1024))
        time.sleep(1)


# ---------------------------------------------------------------- name resolution and TLS


def resolve(host):
    """The lab's resolver: names under lab.internal come from state/hosts only."""
    if not host.endswith(".lab.internal"):
        return host
    try:
        with open(os.path.join(STATE, "hosts")) as f:
            for line in f:
                parts = line.split("#")[0].split()
                if len(parts) >= 2 and host in parts[1:]:
                    return parts[0]
    except FileNotFoundError:
        pass
    raise socket.gaierror(socket.EAI_NONAME, f"lookup {host}: no such host")


CLIENT_TLS = ssl.create_default_context(cafile=os.path.join(STATE, "tls", "ca.crt"))
SERVER_TLS = None


def reload_tls(which):
    global SERVER_TLS
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(STATE, "tls", f"{which}.crt"), os.path.join(STATE, "tls", "payments.key"))
    if SERVER_TLS is not None:
        log("info", "certificate reloaded", file=f"{which}.crt")
    SERVER_TLS = ctx


# ---------------------------------------------------------------- calling peers


class PeerError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def call(peer, path):
    """One client call; records http_client_request_duration_seconds and returns the status."""
    url = TOPO["peers"][peer]
    scheme, rest = url.split("://")
    host, port = rest.rsplit(":", 1)
    t0 = time.time()
    labels = {"service": NAME, "namespace": NS, "peer_service": peer, "http_request_method": "GET"}
    try:
        try:
            ip = resolve(host)
        except socket.gaierror as e:
            raise PeerError("dns_error", f"dial tcp: lookup {host}: no such host") from e
        try:
            sock = socket.create_connection((ip, int(port)), timeout=TIMEOUT_S)
        except ConnectionRefusedError as e:
            raise PeerError("connection_refused", f"dial tcp {ip}:{port}: connect: connection refused") from e
        except socket.timeout as e:
            raise PeerError("timeout", f"dial tcp {ip}:{port}: i/o timeout") from e
        if scheme == "https":
            try:
                sock = CLIENT_TLS.wrap_socket(sock, server_hostname=host)
            except ssl.SSLCertVerificationError as e:
                sock.close()
                raise PeerError("tls_error", f"tls: failed to verify certificate for {host}: {e.verify_message}") from e
            except (ssl.SSLError, socket.timeout) as e:
                sock.close()
                raise PeerError("tls_error", f"tls handshake with {host}: {e}") from e
        conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
        conn.sock = sock
        try:
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except socket.timeout as e:
            raise PeerError("timeout", f"GET {url}{path}: context deadline exceeded") from e
        except (ConnectionResetError, http.client.RemoteDisconnected) as e:
            raise PeerError("connection_refused", f"GET {url}{path}: connection reset by peer") from e
        finally:
            conn.close()
        labels["http_response_status_code"] = str(status)
        CLIENT.observe(labels, time.time() - t0)
        return status
    except PeerError as e:
        labels["error_type"] = e.kind
        CLIENT.observe(labels, time.time() - t0)
        raise


# ---------------------------------------------------------------- the database-like service


class Pool:
    """A connection pool in front of sqlite, reported as postgres_exporter reports one."""

    def __init__(self, size):
        self.size = size
        self.cond = threading.Condition()
        self.active = 0
        self.held = 0
        self.db = os.path.join(STATE, "data", f"{NAME}.sqlite")
        c = sqlite3.connect(self.db)
        c.execute("create table if not exists orders (id integer primary key, at real, amount integer)")
        c.commit()
        c.close()

    def resize(self, held):
        with self.cond:
            if held != self.held:
                log("warn" if held else "info", "connections held idle in transaction by a client", held=held)
            self.held = min(held, self.size)
            self.cond.notify_all()

    def query(self):
        deadline = time.time() + TIMEOUT_S * 0.75
        with self.cond:
            while self.active + self.held >= self.size:
                left = deadline - time.time()
                if left <= 0:
                    raise RuntimeError("FATAL: remaining connection slots are reserved; too many connections")
                self.cond.wait(left)
            self.active += 1
        try:
            c = sqlite3.connect(self.db, timeout=1)
            c.execute("insert into orders (at, amount) values (?, ?)", (time.time(), random.randint(1, 500)))
            c.commit()
            c.execute("select count(*) from orders").fetchone()
            c.close()
            time.sleep(random.uniform(0.005, 0.02))
        finally:
            with self.cond:
                self.active -= 1
                self.cond.notify()

    def render(self, out):
        base = f'service="{NAME}",namespace="{NS}",datname="orders"'
        with self.cond:
            active, held = self.active, self.held
        out.append("# TYPE pg_stat_activity_count gauge")
        out.append(f'pg_stat_activity_count{{{base},state="active"}} {active}')
        # The pool keeps two sessions warm when it has the slots for them.
        idle = max(0, min(2 - active, self.size - held - active))
        out.append(f'pg_stat_activity_count{{{base},state="idle"}} {idle}')
        out.append(f'pg_stat_activity_count{{{base},state="idle in transaction"}} {held}')
        out.append("# TYPE pg_settings_max_connections gauge")
        out.append(f'pg_settings_max_connections{{service="{NAME}",namespace="{NS}"}} {self.size}')


POOL = Pool(ME.get("max_connections", 20)) if ME["kind"] == "db" else None


# ---------------------------------------------------------------- local work per service


def volume_dir():
    return os.path.join(STATE, "volumes", NAME)


def local_work():
    """What the service does itself besides calling peers; raises to answer 500."""
    if ME["kind"] == "db":
        POOL.query()
        return
    if NAME == "inventory":
        db = CONFIG.get("db_path", os.path.join(STATE, "data", "inventory.sqlite"))
        c = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=1)
        try:
            c.execute("select sku, qty from stock order by random() limit 1").fetchone()
        finally:
            c.close()
        line = json.dumps({"at": time.time(), "reserved": random.randint(1, 3)}) + "\n"
        journal = os.path.join(volume_dir(), "journal.log")
        if dir_bytes(volume_dir()) + len(line) > ME["volume_bytes"]:
            raise OSError(28, "No space left on device", journal)
        with open(journal, "a") as f:
            f.write(line)
        return
    share = float(CONTROL.get("error_share", 0))
    if share and random.random() < share:
        raise RuntimeError(CONTROL.get("error_message", "internal error"))
    time.sleep(random.uniform(0.002, 0.01))


def init_inventory():
    if NAME != "inventory":
        return
    os.makedirs(volume_dir(), exist_ok=True)
    db = os.path.join(STATE, "data", "inventory.sqlite")
    c = sqlite3.connect(db)
    c.execute("create table if not exists stock (sku text primary key, qty integer)")
    c.executemany("insert or ignore into stock values (?, ?)", [(f"SKU-{i:04}", 100) for i in range(200)])
    c.commit()
    c.close()


# ---------------------------------------------------------------- the HTTP server


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path not in ME["routes"]:
            return self.reply(404, '{"error":"not found"}')
        t0 = time.time()
        code, msg = 200, ""
        try:
            delay = float(CONTROL.get("extra_latency_s", 0))
            if delay:
                time.sleep(delay)
            for peer, ppath in ME["routes"][path]:
                try:
                    status = call(peer, ppath)
                except PeerError as e:
                    code, msg = 502 if e.kind != "timeout" else 504, str(e)
                    log("error", f"call to {peer} failed: {e}", peer=peer, error_type=e.kind, route=path)
                    break
                if status >= 500:
                    code, msg = 502, f"{peer} answered {status}"
                    log("error", f"upstream {peer} returned {status}", peer=peer, route=path)
                    break
            if code == 200:
                local_work()
        except OSError as e:
            code, msg = 500, f"{e.strerror or e}: {getattr(e, 'filename', '') or ''}".strip()
            log("error", f"write failed: {msg}" if e.errno == 28 else f"request failed: {e}", route=path)
        except sqlite3.Error as e:
            code, msg = 500, f"database error: {e}"
            log("error", f"unable to open database: {e}", route=path, db_path=CONFIG.get("db_path", ""))
        except Exception as e:  # noqa: BLE001 - any failure is a 500 with its message
            code, msg = 500, str(e)
            log("error", f"{type(e).__name__}: {e}", route=path, version=VERSION)
        labels = {"service": NAME, "namespace": NS, "http_route": path, "http_request_method": "GET",
                  "http_response_status_code": str(code), "service_version": VERSION}
        SERVER.observe(labels, time.time() - t0)
        if code == 200:
            self.reply(200, json.dumps({"ok": True, "service": NAME}))
        else:
            self.reply(code, json.dumps({"error": msg}))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    tls = False

    def finish_request(self, request, client_address):
        # The handshake runs on the request's own thread, not the accepting one.
        if self.tls:
            request.settimeout(TIMEOUT_S)
            try:
                request = SERVER_TLS.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                log("warn", f"TLS handshake failed: {e}", peer=client_address[0])
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


class AdminHandler(Handler):
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/metrics":
            return self.reply(200, metrics_text(), "text/plain; version=0.0.4")
        if path == "/healthz":
            return self.reply(200, "ok\n", "text/plain")
        return self.reply(404, '{"error":"not found"}')


def main():
    for d in ("logs", "control", "config", "data"):
        os.makedirs(os.path.join(STATE, d), exist_ok=True)
    init_inventory()
    set_config(read_json(config_path()) or {})
    set_control(read_json(control_path()) or {})
    threading.Thread(target=watch, daemon=True).start()
    threading.Thread(target=leak, daemon=True).start()
    admin = Server(("127.0.0.1", ME["port"] + 100), AdminHandler)
    threading.Thread(target=admin.serve_forever, daemon=True).start()
    srv = Server(("127.0.0.1", ME["port"]), Handler)
    srv.tls = bool(ME.get("tls"))
    log("info", "listening", port=ME["port"], version=VERSION, naming="classic" if CLASSIC else "otel")
    srv.serve_forever()


if __name__ == "__main__":
    main()
