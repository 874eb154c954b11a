"""Network namespaces for the "machines": each launcher runs in a namespace of its own, joined
to the root namespace (where PostgreSQL, Redis and the API listen) by a veth pair with a private
/30. Setting the root-side end down cuts the machine off without a FIN or a RST, as a dead host
or a pulled cable looks to the network; setting it up brings it back.

Only namespaces, links and addresses created here are touched, and only root can create them:
``available()`` says why not when it cannot."""

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass

# 10.213.X.0/30: X picked per run among the /30s no interface here uses yet.
BASE = ipaddress.ip_network("10.213.0.0/16")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "not root: ip netns needs CAP_SYS_ADMIN"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"chaos-probe-{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _used_networks() -> set[ipaddress.IPv4Network]:
    listing = _ip("-4", "-o", "addr", "show").stdout
    used = set()
    for line in listing.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.add(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    return used


def free_subnets(count: int) -> list[ipaddress.IPv4Network]:
    used = _used_networks()
    start = os.getpid() % 200
    found = []
    for offset in range(250):
        third = (start + offset) % 250 + 1
        net = ipaddress.ip_network(f"10.213.{third}.0/30")
        if not any(net.overlaps(u) for u in used):
            found.append(net)
            if len(found) == count:
                return found
    raise RuntimeError("no free 10.213.x.0/30 subnet")


@dataclass
class Machine:
    """One namespace: ``host_address`` is the root side (servers listen there), ``address``
    the machine's own."""

    name: str
    subnet: ipaddress.IPv4Network

    @property
    def host_link(self) -> str:
        return f"{self.name[-10:]}h"

    @property
    def inner_link(self) -> str:
        return f"{self.name[-10:]}n"

    @property
    def host_address(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def address(self) -> str:
        return str(self.subnet.network_address + 2)

    def create(self) -> "Machine":
        _ip("netns", "add", self.name)
        _ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.inner_link)
        _ip("link", "set", self.inner_link, "netns", self.name)
        _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_link)
        _ip("link", "set", self.host_link, "up")
        inside = ("netns", "exec", self.name, "ip")
        _ip(*inside, "addr", "add", f"{self.address}/30", "dev", self.inner_link)
        _ip(*inside, "link", "set", self.inner_link, "up")
        _ip(*inside, "link", "set", "lo", "up")
        return self

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def cut(self) -> None:
        _ip("link", "set", self.host_link, "down")

    def mend(self) -> None:
        _ip("link", "set", self.host_link, "up")

    def destroy(self) -> None:
        _ip("link", "del", self.host_link, check=False)
        _ip("netns", "del", self.name, check=False)


def make_machines(labels: list[str]) -> list[Machine]:
    tag = f"{os.getpid() % 100000}"
    subnets = free_subnets(len(labels))
    machines = []
    try:
        for label, subnet in zip(labels, subnets, strict=True):
            machines.append(Machine(f"ch{tag}{label}", subnet).create())
    except BaseException:
        for machine in machines:
            machine.destroy()
        raise
    return machines
