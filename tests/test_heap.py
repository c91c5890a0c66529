"""The mirror's objects are kept out of the garbage collector's passes (pantau/runtime/heap.py)."""

import gc
import weakref

import pytest

from pantau.cameras.audit_log import Actor
from pantau.cameras.camera_import import import_csv
from pantau.cameras.regions import dki_regions
from pantau.cameras.registry import Registry
from pantau.runtime import heap


@pytest.fixture(autouse=True)
def unfrozen():
    yield
    gc.unfreeze()  # leave the test process as it was


class Node:
    pass


def walked_by_the_collector(obj) -> bool:
    return any(o is obj for o in gc.get_objects())  # generations 0-2; frozen objects are not in them


def test_settle_freezes_survivors_and_frees_what_died_since():
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector can free it
    gone = weakref.ref(a)
    heap.settle()
    assert not walked_by_the_collector(a)
    del a, b
    gc.collect()
    assert gone() is not None  # frozen: no pass looks at it
    heap.settle()
    assert gone() is None  # the next settle examines the frozen set again


async def test_a_large_mirror_load_is_frozen(registry: Registry, registry_redis):
    rows = ["kind,region,tps,source"] + [f"tps,31.71.01.100{1 + n // 500},{1 + n % 500},demo" for n in range(heap.SETTLE_FROM_CAMERAS)]
    await import_csv(registry, "\n".join(rows).encode(), Actor("test-admin", "127.0.0.1"))
    assert not walked_by_the_collector((await registry.sync()).cameras["3171011001001"])
    other = Registry(registry_redis, dki_regions())  # another process: its mirror loads from Redis
    assert not walked_by_the_collector((await other.sync()).cameras["3171011001001"])
    gc.unfreeze()
    assert walked_by_the_collector((await other.sync()).cameras["3171011001001"])  # the check can see it
