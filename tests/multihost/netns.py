"""A private IPv4 network of "hosts": one Linux bridge in the root namespace and one network
namespace per host, joined to the bridge by a veth pair (iproute2 `ip`, needs root).

    bridge wfb<tag>  10.77.X.1/24      (the root namespace: broker, Redis, the harness)
      veth wf<tag>h<N>  <->  eth0 in netns wf-<tag>-<host>  10.77.X.<N+1>/24

Every name carries a random tag and the subnet's third octet is one no interface uses yet,
so a stale run never collides with this one. `close()` removes everything it created and is
registered with `atexit` as well; it is idempotent.

`cut(host)` sets the root-side end of the host's veth down: the host's processes keep
running but every packet to or from it is dropped (TCP connections hang, nothing is reset),
as when a machine's cable is pulled. `restore(host)` sets it up again.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field

__all__ = ["Host", "NetnsUnavailable", "Network", "netns_unavailable"]


class NetnsUnavailable(RuntimeError):
    """This machine cannot create network namespaces (not root, no iproute2, no permission)."""


def netns_unavailable() -> str | None:
    """Why the multi-host harness cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces and a bridge"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` (Debian package iproute2)"
    probe = f"wfprobe{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
    except NetnsUnavailable as exc:
        return f"`ip netns add` failed: {exc}"
    _ip("netns", "del", probe, check=False)
    return None


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _free_subnet() -> int:
    """A third octet N such that no interface has an address in 10.77.N.0/24."""
    used = _ip("-o", "-4", "addr", "show")
    taken = {n for n in range(256) if f" 10.77.{n}." in used}
    free = [n for n in range(1, 255) if n not in taken]
    if not free:
        raise NetnsUnavailable("every 10.77.N.0/24 subnet is in use")
    return free[secrets.randbelow(len(free))]


@dataclass
class Host:
    name: str
    netns: str
    veth: str  # the end in the root namespace (the one `cut` sets down)
    address: str
    cut: bool = False

    def wrap(self, argv: list[str]) -> list[str]:
        """Run `argv` inside this host (`ip netns exec` execs it: the pid stays the same)."""
        return ["ip", "netns", "exec", self.netns, *argv]


@dataclass
class Network:
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    hosts: dict[str, Host] = field(default_factory=dict)
    subnet: ipaddress.IPv4Network | None = None
    bridge: str = ""
    _created: list[tuple[str, str]] = field(default_factory=list)  # ("link"|"netns", name)

    @property
    def gateway(self) -> str:
        """The bridge's address: where the hosts reach the broker and Redis."""
        assert self.subnet is not None, "the network is not up"
        return str(self.subnet.network_address + 1)

    def up(self, names: list[str]) -> None:
        """Create the bridge and one host per name (10.77.X.2, .3, ... in that order)."""
        if len(names) > 250:
            raise ValueError(f"{len(names)} hosts do not fit in a /24")
        atexit.register(self.close)
        self.subnet = ipaddress.IPv4Network(f"10.77.{_free_subnet()}.0/24")
        self.bridge = f"wfb{self.tag}"
        _ip("link", "add", self.bridge, "type", "bridge")
        self._created.append(("link", self.bridge))
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index, name in enumerate(names, start=1):
            self.hosts[name] = self._host(index, name)

    def _host(self, index: int, name: str) -> Host:
        assert self.subnet is not None
        netns = f"wf-{self.tag}-{name}"
        veth, peer = f"wf{self.tag}h{index}", f"wf{self.tag}p{index}"
        address = str(self.subnet.network_address + 1 + index)
        _ip("netns", "add", netns)
        self._created.append(("netns", netns))
        _ip("link", "add", veth, "type", "veth", "peer", "name", peer)
        self._created.append(("link", veth))  # deleting one end deletes the pair
        _ip("link", "set", peer, "netns", netns)
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        inside = ["-n", netns]
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "link", "set", peer, "name", "eth0")
        _ip(*inside, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip(*inside, "link", "set", "eth0", "up")
        return Host(name, netns, veth, address)

    def cut(self, name: str) -> None:
        """Pull the host's cable: its link in the root namespace goes down."""
        host = self.hosts[name]
        _ip("link", "set", host.veth, "down")
        host.cut = True

    def restore(self, name: str) -> None:
        host = self.hosts[name]
        _ip("link", "set", host.veth, "up")
        host.cut = False

    def close(self) -> None:
        """Delete every link and namespace this network created (newest first); idempotent."""
        while self._created:
            kind, name = self._created.pop()
            _ip(kind, "del", name, check=False)
        self.hosts.clear()
