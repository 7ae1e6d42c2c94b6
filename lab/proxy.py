#!/usr/bin/env python3
"""A TCP proxy on one network hop (frontend -> catalog) that adds the delay
written in state/control/<name>.json ({"delay_ms": 800}) to every chunk it
forwards in either direction. Standard library only.

Usage: proxy.py   (environment: LAB_STATE)
"""

import json
import os
import socket
import threading
import time

LAB = os.path.dirname(os.path.abspath(__file__))
STATE = os.environ["LAB_STATE"]
CFG = json.load(open(os.path.join(LAB, "topology.json")))["proxy"]
CONTROL = os.path.join(STATE, "control", f"{CFG['name']}.json")
delay_s = 0.0


def watch():
    global delay_s
    while True:
        try:
            with open(CONTROL) as f:
                delay_s = float(json.load(f).get("delay_ms", 0)) / 1000.0
        except (FileNotFoundError, ValueError):
            delay_s = 0.0
        time.sleep(1)


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if delay_s:
                time.sleep(delay_s)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client):
    try:
        upstream = socket.create_connection(("127.0.0.1", CFG["target"]), timeout=5)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)
    client.close()
    upstream.close()


def main():
    threading.Thread(target=watch, daemon=True).start()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", CFG["listen"]))
    ls.listen(128)
    while True:
        client, _ = ls.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
