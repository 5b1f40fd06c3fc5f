"""The devnet hands each service its own port: a released port the kernel offers again is never
given twice (the signer and a validator were once both given 39221, and one could not listen)."""

from __future__ import annotations

import socket

from chainplug.devnet.processes import free_port


def test_no_port_is_handed_out_twice_even_when_the_kernel_offers_it_again() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    for port in ports[:5]:  # and each was free when handed out
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
