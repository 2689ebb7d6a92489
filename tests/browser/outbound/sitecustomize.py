"""Loaded by Python at start-up when this folder is on PYTHONPATH (tests/browser/test_hostile_browser.py): records
every outbound connection the server process itself tries — ``socket.connect``/``connect_ex``/``sendto`` to an
address off 127.0.0.1/::1, and ``getaddrinfo`` of a host name other than localhost (a DNS query leaves the
machine too) — as JSON lines in ``$PLM_OUTBOUND_LOG``. It only records; the call then proceeds as usual."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
import traceback

_LOG = os.environ.get("PLM_OUTBOUND_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
_lock = threading.Lock()


def _local(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False  # a host name: resolving it asks the network
    return ip.is_loopback or ip.is_unspecified


def _record(what: str, target: object) -> None:
    stack = [f"{f.filename}:{f.lineno}" for f in traceback.extract_stack(limit=12)[:-2]]
    with _lock, open(_LOG, "a", encoding="utf-8") as out:
        out.write(json.dumps({"call": what, "target": repr(target), "pid": os.getpid(), "stack": stack}) + "\n")


def _address_host(address: object) -> object:
    if isinstance(address, tuple) and address:
        return address[0]
    return None  # AF_UNIX paths: local


if _LOG:
    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(_address_host(address)):
            _record("connect", address)
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(_address_host(address)):
            _record("connect_ex", address)
        return _connect_ex(self, address)

    def sendto(self, data, *args):
        address = args[-1]
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(_address_host(address)):
            _record("sendto", address)
        return _sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        if not _local(host):
            _record("getaddrinfo", host)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo
