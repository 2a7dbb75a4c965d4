"""An in-process scripted model adapter for judge tests: replays replies, records every request."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mmlongbench_write.model_adapters.base import ModelAdapter
from mmlongbench_write.schema import Generation, Request, Usage

Reply = str | Generation | Callable[[Request], "str | Generation"]


class FakeJudgeModel(ModelAdapter):
    """Answers requests, in the order received, with the scripted ``replies``; then with ``default``.

    A reply is a string, a ready :class:`Generation` (e.g. ``Generation.failure``), or a function of the
    request. When replies run out and there is no ``default``, the test is wrong: it raises.
    """

    adapter_name = "fake"

    def __init__(self, replies: Sequence[Reply] = (), default: Reply | None = None, model: str = "fake-judge",
                 snapshot: str = "fake-judge-2024-08-06", usage: Usage | None = None, **model_args: Any) -> None:
        super().__init__(None, model=model, **model_args)
        self.replies = list(replies)
        self.default = default
        self.snapshot = snapshot
        self.usage = usage or Usage(100, 20)
        self.requests: list[Request] = []
        self.generate_calls = 0

    def _reply(self, request: Request) -> str | Generation:
        if self.replies:
            reply = self.replies.pop(0)
        elif self.default is not None:
            reply = self.default
        else:
            raise AssertionError(f"FakeJudgeModel: no scripted reply left for {request.id}")
        return reply(request) if callable(reply) else reply

    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        self.generate_calls += 1
        for request in requests:
            self.requests.append(request)
            reply = self._reply(request)
            if isinstance(reply, Generation):
                yield Generation(**{**reply.__dict__, "request_id": request.id})
            else:
                yield Generation(request_id=request.id, text=reply, usage=self.usage, model=self.snapshot)


def register_fake_judge(monkeypatch: Any, name: str, reply: Reply) -> list[Request]:
    """Register a :class:`FakeJudgeModel` answering ``reply`` under model name ``name`` (undone after the test).

    Returns the shared list every instance records its requests in, so a CLI test can count them.
    """
    from mmlongbench_write.registry import Entry, models

    requests: list[Request] = []

    class RegisteredFake(FakeJudgeModel):
        def __init__(self, runtime: Any = None, **model_args: Any) -> None:
            super().__init__(default=reply, model=str(model_args.pop("model", name)), **model_args)
            self.requests = requests

    models.names()  # load the built-ins first so they cannot overwrite the fake later
    monkeypatch.setitem(models._entries, name, Entry(name, RegisteredFake, "test fake judge"))
    return requests
