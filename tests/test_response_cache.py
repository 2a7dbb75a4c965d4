"""The response cache: hits, modes, the seed rule, key contents, and concurrent writer processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.model_adapters.cache import CACHE_FILE, cache_key, with_response_cache
from mmlongbench_write.model_adapters.scripted import ScriptedAdapter
from mmlongbench_write.schema import GenerationConfig, ImagePart, ImageRef, Message, Request


def req(rid: str, text: str = "write 5 words", **config: object) -> Request:
    return Request(rid, (Message.user(text),), GenerationConfig(**config))  # type: ignore[arg-type]


def test_off_returns_the_adapter_unchanged() -> None:
    inner = ScriptedAdapter()
    assert with_response_cache(inner, "off") is inner
    with pytest.raises(ConfigError, match="--cache"):
        with_response_cache(inner, "sometimes")


def test_second_run_hits_and_marks_cached(tmp_path: Path) -> None:
    first = ScriptedAdapter()
    gens = list(with_response_cache(first, "readwrite", tmp_path).generate([req("a"), req("b", "write 7 words")]))
    assert all(not g.cached for g in gens) and len(first.calls) == 2

    second = ScriptedAdapter()
    cached = with_response_cache(second, "readwrite", tmp_path)
    again = {g.request_id: g for g in cached.generate([req("a2"), req("b"), req("c", "write 9 words")])}
    assert second.calls == [req("c", "write 9 words")]  # only the miss reached the model, in one call
    assert again["a2"].cached and again["b"].cached and not again["c"].cached
    assert again["a2"].text == gens[0].text and again["a2"].request_id == "a2"  # keyed by content, not id
    assert (tmp_path / CACHE_FILE).exists()


def test_modes(tmp_path: Path) -> None:
    list(with_response_cache(ScriptedAdapter(), "write", tmp_path).generate([req("a")]))
    writer_again = ScriptedAdapter()
    [gen] = with_response_cache(writer_again, "write", tmp_path).generate([req("a")])
    assert not gen.cached and len(writer_again.calls) == 1  # write mode never reads

    reader = ScriptedAdapter()
    [hit, miss] = sorted(
        with_response_cache(reader, "read", tmp_path).generate([req("a"), req("b", "write 3 words")]),
        key=lambda g: g.request_id,
    )
    assert hit.cached and not miss.cached
    [again] = with_response_cache(ScriptedAdapter(), "read", tmp_path).generate([req("b", "write 3 words")])
    assert not again.cached  # read mode never writes


def test_sampled_outputs_cached_only_with_a_seed(tmp_path: Path) -> None:
    for _ in range(2):
        list(with_response_cache(ScriptedAdapter(), "readwrite", tmp_path).generate([req("s", temperature=0.6)]))
    inner = ScriptedAdapter()
    [gen] = with_response_cache(inner, "readwrite", tmp_path).generate([req("s", temperature=0.6)])
    assert not gen.cached and len(inner.calls) == 1

    list(with_response_cache(ScriptedAdapter(), "readwrite", tmp_path).generate([req("s", temperature=0.6, seed=1)]))
    [seeded] = with_response_cache(ScriptedAdapter(), "readwrite", tmp_path).generate(
        [req("s", temperature=0.6, seed=1)]
    )
    [other_seed] = with_response_cache(ScriptedAdapter(), "readwrite", tmp_path).generate(
        [req("s", temperature=0.6, seed=2)]
    )
    assert seeded.cached and not other_seed.cached


def test_failures_are_not_stored(tmp_path: Path) -> None:
    list(with_response_cache(ScriptedAdapter(fail_every=1), "readwrite", tmp_path).generate([req("a")]))
    [gen] = with_response_cache(ScriptedAdapter(), "readwrite", tmp_path).generate([req("a")])
    assert gen.ok and not gen.cached


def test_key_covers_identity_config_and_image_content() -> None:
    identity = ScriptedAdapter(words=5).identity()
    base = cache_key(identity, req("x"))
    assert cache_key(identity, req("y")) == base
    assert cache_key(ScriptedAdapter(words=6).identity(), req("x")) != base
    assert cache_key(ScriptedAdapter(words=5, base_url="http://elsewhere").identity(), req("x")) == base
    assert cache_key(identity, req("x", max_new_tokens=10)) != base
    img_a = ImageRef.from_bytes(b"aaa", "same-name.png")
    img_b = ImageRef.from_bytes(b"bbb", "same-name.png")
    with_a = Request("x", (Message.user("hi", ImagePart(img_a)),))
    with_b = Request("x", (Message.user("hi", ImagePart(img_b)),))
    assert cache_key(identity, with_a) != cache_key(identity, with_b)


def _writer(cache_dir: str, worker: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    # overlapping prompts: every worker writes 0..59, plus 20 of its own
    requests = [req(f"w{worker}-{i}", f"write {i + 1} words") for i in range(60)]
    requests += [req(f"own{worker}-{i}", f"worker {worker} item {i}: write 3 words") for i in range(20)]
    adapter = with_response_cache(ScriptedAdapter(), "readwrite", cache_dir)
    out.put(sum(1 for g in adapter.generate(requests) if g.ok))


@pytest.mark.slow
def test_concurrent_writer_processes_do_not_corrupt(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, out)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert sorted(out.get(timeout=5) for _ in procs) == [80, 80, 80]
    conn = sqlite3.connect(tmp_path / CACHE_FILE)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT COUNT(*) FROM kv").fetchone() == (60 + 3 * 20,)
    conn.close()
    inner = ScriptedAdapter()
    gens = list(with_response_cache(inner, "read", tmp_path).generate([req("q", "write 42 words")]))
    assert gens[0].cached and len(gens[0].text.split()) == 42 and not inner.calls
