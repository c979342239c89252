"""Order-independent seeds: every random draw is keyed by (dataset seed, what it is for, which item).

Because a sample's RNG depends only on its id, results do not change with worker count, shard, or
the order in which an interrupted run is resumed.
"""

from __future__ import annotations

import hashlib

__all__ = ["stable_seed"]


def stable_seed(seed: int, *parts: object) -> int:
    """A 32-bit seed from SHA-256 of ``seed`` and ``parts`` (stable across Python runs and machines)."""
    key = "\x1f".join([str(int(seed)), *(str(p) for p in parts)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")
