"""BoundedCache: bytes held never pass the budget, recently used entries survive, counters add up."""

import pytest

from kernel.bounded_cache import BoundedCache, approx_size


def _len_size(key: str, value: str) -> int:
    return len(key) + len(value)


def test_hit_and_miss_are_counted():
    cache = BoundedCache(1000, _len_size)
    assert cache.get("a") is None
    assert cache.put("a", "1") == "1"
    assert cache.get("a") == "1"
    assert (cache.hits, cache.misses, len(cache), cache.bytes) == (1, 1, 1, 2)


def test_bytes_never_pass_the_budget_whatever_is_put():
    cache = BoundedCache(10_000, _len_size, max_entry_bytes=500)
    for i in range(5_000):
        cache.put(f"key-{i}-" + "x" * (i % 400), "v")
        assert cache.bytes <= 10_000
    assert cache.evictions > 0


def test_an_entry_bigger_than_max_entry_bytes_is_not_kept():
    cache = BoundedCache(10_000, _len_size, max_entry_bytes=100)
    cache.put("small", "v")
    cache.put("big" * 100, "v")
    assert "big" * 100 not in cache
    assert "small" in cache
    assert cache.refused == 1


def test_recently_used_entries_survive_a_flood_of_new_ones():
    cache = BoundedCache(2_000, _len_size, max_entry_bytes=20)
    cache.put("hot", "1")
    for i in range(10_000):
        cache.put(f"cold{i:06}", "v")
        assert cache.get("hot") == "1"  # used between every two new entries: never evicted
    assert "cold000000" not in cache


def test_an_unused_entry_is_evicted_after_two_generations():
    cache = BoundedCache(100, _len_size, max_entry_bytes=10)
    cache.put("a", "1")
    for i in range(50):
        cache.put(f"k{i:03}", "v")
    assert "a" not in cache
    assert cache.bytes <= 100


def test_replacing_a_key_does_not_count_it_twice():
    cache = BoundedCache(1000, _len_size)
    cache.put("a", "1")
    cache.put("a", "22")
    assert cache.get("a") == "22"
    assert (len(cache), cache.bytes) == (1, 3)


def test_clear_empties_it():
    cache = BoundedCache(1000, _len_size)
    cache.put("a", "1")
    cache.clear()
    assert (len(cache), cache.bytes, cache.get("a")) == (0, 0, None)


def test_an_entry_must_fit_in_one_generation():
    with pytest.raises(ValueError):
        BoundedCache(100, _len_size, max_entry_bytes=60)


def test_approx_size_follows_containers():
    value = "x" * 10_000
    assert approx_size(((value, "a"), {"k": value})) > 20_000
