"""An action in Python: a rolling aggregate per topic in Redis, through the
`redis` interface.

    backend.redis.hook.message.publish.2 = {"topic": "meter/#",
        "action": {"module": "py_rolling", "function": "rolling"}, "pool": "pool1",
        "options": {"window": 10, "field": "value"}}

Each message's payload is a JSON object whose `field` (default "value") is a
number. The action keeps the topic's last `window` readings (default 10) in
the sorted set `rolling:<topic>:window`, scored by arrival time, and their
count, sum, min, max and mean in the hash `rolling:<topic>`. A reading is
stored as the member "<msgid>=<value>", so a replay from the outbox adds
nothing twice. A payload without a number there is refused (invalid input).

Built with `componentize-py --stub-wasi` (see scripts/build-examples.sh):
CPython's libc imports WASI sockets, which cistern refuses, so this guest
imports no WASI at all and logs through the `log` interface, not print().
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import clock, log, redis, types

NOTHING = types.Outcome(deliver=[], subscribe=[])


class WitWorld(wit_world.WitWorld):
    def functions(self) -> list[types.FunctionInfo]:
        return [
            types.FunctionInfo(name="rolling", hooks=["message.publish"], kind=types.FunctionKind.WRITE),
            # One host call and back: what the hook_cost benchmark times in each language.
            types.FunctionInfo(name="tick", hooks=[], kind=types.FunctionKind.READ),
        ]

    def handle(self, ctx: types.Context, event: types.Event) -> types.Outcome:
        if ctx.function == "tick":
            clock.now_ms()
            return NOTHING
        if ctx.function != "rolling":
            raise Err(types.Error_InvalidInput(f"no function {ctx.function}"))
        if not isinstance(event, types.Event_MessagePublish):
            return NOTHING
        options = json.loads(ctx.options).get("options", {})
        window = int(options.get("window", 10))
        field = options.get("field", "value")
        message = event.value.message
        value = reading(message, field)

        key = f"rolling:{message.topic}".encode()
        members = key + b":window"
        redis.exec(
            ctx.pool,
            [
                [b"ZADD", members, str(message.timestamp_ms).encode(), f"{message.id}={value!r}".encode()],
                [b"ZREMRANGEBYRANK", members, b"0", str(-window - 1).encode()],
            ],
            True,
        )
        reply = redis.execute(ctx.pool, [b"ZRANGE", members, b"0", b"-1"])
        values = [float(v.value.split(b"=", 1)[1]) for v in reply if isinstance(v, redis.Value_Data)]
        total = sum(values)
        summary = {
            "count": len(values),
            "sum": total,
            "min": min(values),
            "max": max(values),
            "mean": total / len(values),
        }
        command = [b"HSET", key]
        for name, number in summary.items():
            command += [name.encode(), repr(number).encode()]
        redis.execute(ctx.pool, command)
        log.log(log.Level.INFO, f"rolling {message.topic}: {summary}")
        return NOTHING


def reading(message: types.Message, field: str) -> float:
    try:
        value = json.loads(message.payload)[field]
    except (ValueError, TypeError, KeyError) as e:
        raise Err(types.Error_InvalidInput(f"message {message.id}: no number at {field!r} in the payload ({e})"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Err(types.Error_InvalidInput(f"message {message.id}: {field!r} is not a number"))
    return float(value)
