#!/usr/bin/env python3
"""The lab's kubelet: starts every service, the delaying proxy and the load
generator; restarts what exits (with back-off); enforces each service's memory
limit (SIGKILL past it, counted as an OOM kill) and CPU quota (a cgroup when
/sys/fs/cgroup is writable, else a userspace quota that SIGSTOPs the process
for the rest of a 100 ms period once it has used its share); applies deploys
and scale-to-zero from state/control/supervisor.json; and serves what cAdvisor
and kube-state-metrics would report at 127.0.0.1:18080/metrics.

Usage: supervisor.py   (environment: LAB_STATE, LAB_NAMING)
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAB = os.path.dirname(os.path.abspath(__file__))
STATE = os.environ["LAB_STATE"]
TOPO = json.load(open(os.path.join(LAB, "topology.json")))
NS = TOPO["namespace"]
PERIOD_S = 0.1
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
LOCK = threading.Lock()
EVENTS = open(os.path.join(STATE, "logs", "events.log"), "a", buffering=1)


def event(service, level, message, **fields):
    rec = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "level": level,
           "service": service, "source": "kubelet", "message": message}
    rec.update(fields)
    EVENTS.write(json.dumps(rec) + "\n")


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


def rss(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except FileNotFoundError:
        return 0


class Cgroup:
    """A real CPU quota: cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us), if writable."""

    @staticmethod
    def open(name, cores):
        if os.environ.get("LAB_CPU_QUOTA") == "userspace":
            return None
        for root, v2 in (("/sys/fs/cgroup", True), ("/sys/fs/cgroup/cpu", False)):
            if v2 and not os.path.exists(os.path.join(root, "cgroup.controllers")):
                continue
            path = os.path.join(root, "inquest-lab", name)
            try:
                os.makedirs(path, exist_ok=True)
                if v2:
                    with open(os.path.join(root, "inquest-lab", "cgroup.subtree_control"), "w") as f:
                        f.write("+cpu")
                    with open(os.path.join(path, "cpu.max"), "w") as f:
                        f.write(f"{int(cores * 100000)} 100000")
                else:
                    with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
                        f.write("100000")
                    with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
                        f.write(str(int(cores * 100000)))
                return Cgroup(path)
            except OSError:
                continue
        return None

    def __init__(self, path):
        self.path = path

    def add(self, pid):
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def stat(self):
        out = {}
        with open(os.path.join(self.path, "cpu.stat")) as f:
            for line in f:
                k, v = line.split()
                out[k] = int(v)
        return out.get("nr_periods", 0), out.get("nr_throttled", 0)


class Container:
    def __init__(self, name, cmd, memory_limit=None, cpu_cores=None):
        self.name = name
        self.cmd = cmd
        self.proc = None
        self.version = "1.4.2"
        self.restarts = 0
        self.oom_events = 0
        self.last_reason = ""
        self.memory_limit = memory_limit
        self.cpu_cores = cpu_cores
        self.stopped = False
        self.generation = 0
        self.killed_for_oom = False
        self.next_start = 0.0
        self.backoff = 1.0
        self.cpu_base = 0.0
        # Userspace quota accounting, used when no cgroup can be written.
        self.periods = 0
        self.throttled = 0
        self.cgroup = Cgroup.open(name, cpu_cores) if cpu_cores else None
        self.quota_mode = "cgroup" if self.cgroup else "userspace"

    @property
    def pod(self):
        h = zlib.crc32(f"{self.name}/{self.version}".encode()) & 0xFFFFFF
        return f"{self.name}-{h:06x}"

    def start(self):
        env = dict(os.environ, LAB_VERSION=self.version, LAB_POD=self.pod)
        self.proc = subprocess.Popen(self.cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(STATE, "logs", f"{self.name}.stderr"), "a"))
        if self.cgroup:
            try:
                self.cgroup.add(self.proc.pid)
            except OSError as e:
                event(self.name, "warn", f"cannot place the process in its cgroup: {e}")
        self.killed_for_oom = False
        event(self.name, "info", "Started container", pod=self.pod, version=self.version, pid=self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def containers():
    py = sys.executable
    out = []
    for name in TOPO["services"]:
        out.append(Container(name, [py, os.path.join(LAB, "svc.py"), name],
                             TOPO["memory_limit_bytes"], TOPO["cpu_limit_cores"]))
    out.append(Container(TOPO["proxy"]["name"], [py, os.path.join(LAB, "proxy.py")]))
    out.append(Container("loadgen", [py, os.path.join(LAB, "load.py")]))
    return out


def control():
    try:
        with open(os.path.join(STATE, "control", "supervisor.json")) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


def reconcile(cs):
    """Starts, restarts, deploys and stops containers as the control file says."""
    ctl = control()
    stopped = set(ctl.get("stopped", []))
    versions = ctl.get("versions", {})
    limits = ctl.get("memory_limit_bytes", {})
    generation = ctl.get("generation", 0)
    now = time.time()
    with LOCK:
        for c in cs:
            if c.generation != generation:
                # A clean restart asked for (faults cleared): not counted as a crash.
                c.generation = generation
                if c.alive() and c.name in TOPO["services"]:
                    event(c.name, "info", "Restarting container (rollout restart)", pod=c.pod)
                    c.proc.terminate()
                    c.proc.wait()
                    c.start()
            c.memory_limit = limits.get(c.name, c.memory_limit if c.name not in TOPO["services"] else TOPO["memory_limit_bytes"])
            want = versions.get(c.name, "1.4.2")
            if c.name in stopped:
                if not c.stopped:
                    c.stopped = True
                    event(c.name, "warn", "Scaled deployment to 0 replicas", pod=c.pod)
                    if c.alive():
                        c.proc.terminate()
                continue
            c.stopped = False
            if want != c.version:
                event(c.name, "info", f"Rolling out version {want}", old=c.version, new=want)
                if c.alive():
                    c.proc.terminate()
                    c.proc.wait()
                c.version = want
                c.backoff = 1.0
                c.start()
                continue
            if c.proc is None:
                c.start()
            elif c.proc.poll() is not None and c.next_start == 0.0:
                code = c.proc.returncode
                c.last_reason = "OOMKilled" if c.killed_for_oom else ("Completed" if code == 0 else "Error")
                c.restarts += 1
                c.next_start = now + c.backoff
                event(c.name, "warn", f"Back-off restarting failed container ({c.last_reason}, exit {code})",
                      pod=c.pod, restarts=c.restarts)
                c.backoff = min(c.backoff * 2, 20.0)
            elif c.next_start and now >= c.next_start:
                c.next_start = 0.0
                c.start()
            elif c.alive() and c.next_start == 0.0 and now - c.backoff > 60:
                c.backoff = 1.0


def enforce(cs):
    """Memory limits every 250 ms; the userspace CPU quota every 100 ms period."""
    period_start = time.time()
    used_at = {}
    while True:
        time.sleep(PERIOD_S / 4)
        now = time.time()
        with LOCK:
            for c in cs:
                if not c.alive():
                    continue
                pid = c.proc.pid
                if c.memory_limit and rss(pid) > c.memory_limit:
                    c.killed_for_oom = True
                    c.oom_events += 1
                    event(c.name, "error", "Memory cgroup out of memory: Killed process", pod=c.pod, pid=pid,
                          limit_bytes=c.memory_limit, reason="OOMKilled")
                    os.kill(pid, signal.SIGKILL)
                    continue
                if c.cpu_cores and not c.cgroup:
                    used = cpu_seconds(pid) - used_at.get(pid, cpu_seconds(pid))
                    if pid not in used_at:
                        used_at[pid] = cpu_seconds(pid)
                    if used >= c.cpu_cores * PERIOD_S and now - period_start < PERIOD_S:
                        os.kill(pid, signal.SIGSTOP)
                        c.stopped_in_period = True
            if now - period_start >= PERIOD_S:
                for c in cs:
                    if c.cpu_cores and not c.cgroup and c.alive():
                        c.periods += 1
                        if getattr(c, "stopped_in_period", False):
                            c.throttled += 1
                            c.stopped_in_period = False
                            os.kill(c.proc.pid, signal.SIGCONT)
                        used_at[c.proc.pid] = cpu_seconds(c.proc.pid)
                period_start = now


def metrics(cs):
    out = []

    def fam(name, kind):
        out.append(f"# TYPE {name} {kind}")

    rows = []
    with LOCK:
        for c in cs:
            if c.name not in TOPO["services"]:
                continue
            alive = c.alive()
            pid = c.proc.pid if alive else None
            periods, throttled = (c.cgroup.stat() if c.cgroup else (c.periods, c.throttled))
            rows.append((c, alive, cpu_seconds(pid) if pid else 0.0, rss(pid) if pid else 0, periods, throttled))
    lab = lambda c: f'service="{c.name}",namespace="{NS}",pod="{c.pod}",container="{c.name}"'
    series = [
        ("container_cpu_usage_seconds_total", "counter", lambda r: r[2]),
        ("container_cpu_cfs_periods_total", "counter", lambda r: r[4]),
        ("container_cpu_cfs_throttled_periods_total", "counter", lambda r: r[5]),
        ("container_spec_cpu_quota", "gauge", lambda r: int((r[0].cpu_cores or 0) * 100000)),
        ("container_memory_working_set_bytes", "gauge", lambda r: r[3]),
        ("container_spec_memory_limit_bytes", "gauge", lambda r: r[0].memory_limit or 0),
        ("container_oom_events_total", "counter", lambda r: r[0].oom_events),
        ("kube_pod_container_status_restarts_total", "counter", lambda r: r[0].restarts),
        ("kube_pod_container_status_ready", "gauge", lambda r: 1 if r[1] else 0),
    ]
    for name, kind, f in series:
        fam(name, kind)
        for r in rows:
            out.append(f"{name}{{{lab(r[0])}}} {f(r)}")
    fam("kube_pod_container_status_last_terminated_reason", "gauge")
    for r in rows:
        for reason in ("OOMKilled", "Error", "Completed"):
            out.append(f'kube_pod_container_status_last_terminated_reason{{{lab(r[0])},reason="{reason}"}} '
                       f'{1 if r[0].last_reason == reason else 0}')
    fam("kube_pod_container_info", "gauge")
    for r in rows:
        out.append(f'kube_pod_container_info{{{lab(r[0])},image="lab/{r[0].name}:{r[0].version}"}} 1')
    fam("kube_deployment_spec_replicas", "gauge")
    fam("kube_deployment_status_replicas_available", "gauge")
    for r in rows:
        d = f'service="{r[0].name}",namespace="{NS}",deployment="{r[0].name}"'
        out.append(f"kube_deployment_spec_replicas{{{d}}} {0 if r[0].stopped else 1}")
        out.append(f"kube_deployment_status_replicas_available{{{d}}} {1 if r[1] else 0}")
    fam("lab_cpu_quota_mode", "gauge")
    for r in rows:
        out.append(f'lab_cpu_quota_mode{{service="{r[0].name}",mode="{r[0].quota_mode}"}} 1')
    return "\n".join(out) + "\n"


def serve(cs):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = metrics(cs).encode() if self.path.startswith("/metrics") else b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", TOPO["supervisor_port"]), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def main():
    cs = containers()
    done = threading.Event()

    def stop(*_):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    serve(cs)
    threading.Thread(target=enforce, args=(cs,), daemon=True).start()
    while not done.is_set():
        reconcile(cs)
        done.wait(1)
    with LOCK:
        for c in cs:
            if c.alive():
                os.kill(c.proc.pid, signal.SIGCONT)
                c.proc.terminate()
        for c in cs:
            if c.proc is not None:
                try:
                    c.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    c.proc.kill()
        parents = set()
        for c in cs:
            if c.cgroup:
                parents.add(os.path.dirname(c.cgroup.path))
                try:
                    os.rmdir(c.cgroup.path)
                except OSError:
                    pass
        for p in parents:
            try:
                os.rmdir(p)
            except OSError:
                pass


if __name__ == "__main__":
    main()
