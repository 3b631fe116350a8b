"""AFL++'s progress while it runs, over StatsD (AFL_STATSD=1).

AFL++ 4.04c rewrites fuzzer_stats about once a minute and writes no plot_data row in
an instance's first minute, but sends StatsD gauges (`fuzzing.edges_found:189|g`, one
datagram a second) to AFL_STATSD_HOST:AFL_STATSD_PORT. Each instance gets its own UDP
port here, so the gauges need no tags to tell the instances apart.
"""

from __future__ import annotations

import socket

from .timeline import Sample


class Receiver:
    """One UDP socket on 127.0.0.1 per instance; the latest gauges of each."""

    def __init__(self, instances: int):
        self._socks = []
        for _ in range(instances):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            self._socks.append(s)
        self.latest = [{} for _ in self._socks]

    def env(self, index: int) -> dict:
        """The environment that makes instance `index` report here."""
        return {"AFL_STATSD": "1", "AFL_STATSD_HOST": "127.0.0.1",
                "AFL_STATSD_PORT": str(self._socks[index].getsockname()[1])}

    def poll(self) -> None:
        for i, s in enumerate(self._socks):
            while True:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    break
                self.latest[i].update(parse(data.decode(errors="replace")))

    def sample(self, seconds: float) -> Sample | None:
        """The instances' state now: the most edges and the largest corpus any has
        (their union is not known; the max is its floor), the sum of executions."""
        now = [g for g in self.latest if "edges_found" in g]
        if not now:
            return None
        return Sample(seconds, coverage=max(int(g["edges_found"]) for g in now),
                      corpus=max(int(g.get("corpus_count", 0)) for g in now),
                      execs=sum(int(g.get("execs_done", 0)) for g in now))

    def close(self) -> None:
        for s in self._socks:
            s.close()


def parse(datagram: str) -> dict:
    """`fuzzing.NAME:VALUE|g` lines as {NAME: VALUE}."""
    out = {}
    for line in datagram.splitlines():
        name, sep, rest = line.partition(":")
        value = rest.split("|", 1)[0]
        if sep and name.startswith("fuzzing.") and value:
            try:
                out[name[len("fuzzing."):]] = float(value)
            except ValueError:
                continue
    return out
