"""Peer measurement for the rosey benchmark harness: Errbot's in-process test bot.

Run by `cargo run --release -p rosey-benches --bin bench` with the Python of a throwaway venv
under target/bench that has `errbot` installed. It writes a trivial plugin (`!hello` → `hi`),
starts `errbot.backends.test.TestBot`, and measures, the way the harness measures rosey:

* reload latency: `!plugin reload Hello` pushed, then a probe `!hello` pushed at once, and
  another probe each time one is answered before the reload's own answer; the sample is push of
  the reload → first `hi` after the reload was acknowledged;
* steady latency: `!hello` pushed → `hi` popped, one at a time.

Prints one JSON object on stdout: errbot's version, the samples in ms, and the process's VmRSS.
Usage: errbot_bench.py WORKDIR RELOADS STEADY WARMUP
"""

import json
import logging
import os
import sys
import time
from queue import Empty

PLUGIN_INFO = """[Core]
Name = Hello
Module = hello

[Documentation]
Description = The trivial plugin of the rosey benchmark.

[Python]
Version = 3
"""

PLUGIN_CODE = """from errbot import BotPlugin, botcmd


class Hello(BotPlugin):
    @botcmd
    def hello(self, msg, args):
        return "hi"
"""


def rss_kb():
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def pop(bot, timeout=10):
    try:
        return bot.pop_message(timeout=timeout)
    except Empty:
        raise SystemExit(f"no answer from errbot within {timeout} s")


def main():
    workdir, reloads, steady, warmup = sys.argv[1], *map(int, sys.argv[2:5])
    plugins = os.path.join(workdir, "plugins", "hello")
    os.makedirs(plugins, exist_ok=True)
    with open(os.path.join(plugins, "hello.plug"), "w", encoding="utf-8") as info:
        info.write(PLUGIN_INFO)
    with open(os.path.join(plugins, "hello.py"), "w", encoding="utf-8") as code:
        code.write(PLUGIN_CODE)

    import errbot
    from errbot.backends.test import TestBot

    bot = TestBot(extra_plugin_dir=os.path.dirname(plugins), loglevel=logging.ERROR)
    bot.start(timeout=10)
    # The test backend forces DEBUG logging to a file; measure the bot, not its log writes.
    logging.getLogger().setLevel(logging.ERROR)
    bot.push_message("!hello")
    first = pop(bot)
    if first != "hi":
        raise SystemExit(f"the Hello plugin did not answer !hello with hi: {first!r}")

    steady_ms = []
    for i in range(warmup + steady):
        started = time.perf_counter()
        bot.push_message("!hello")
        answer = pop(bot)
        took = (time.perf_counter() - started) * 1000.0
        if answer != "hi":
            raise SystemExit(f"unexpected answer to !hello: {answer!r}")
        if i >= warmup:
            steady_ms.append(took)

    reload_ms = []
    answered_early = 0
    for _ in range(reloads):
        started = time.perf_counter()
        bot.push_message("!plugin reload Hello")
        bot.push_message("!hello")
        reloaded = False
        while True:
            answer = pop(bot)
            if "reloaded" in answer.lower():
                reloaded = True
            elif answer == "hi":
                if reloaded:
                    reload_ms.append((time.perf_counter() - started) * 1000.0)
                    break
                answered_early += 1
                bot.push_message("!hello")
            else:
                # Errbot answers a command it cannot route while the plugin is out.
                bot.push_message("!hello")
        time.sleep(0.01)

    result = {
        "errbot_version": getattr(errbot, "__version__", None)
        or __import__("importlib.metadata").metadata.version("errbot"),
        "python": sys.version.split()[0],
        "reload_ms": reload_ms,
        "reload_answered_before_reloaded": answered_early,
        "steady_ms": steady_ms,
        "rss_kb": rss_kb(),
    }
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # TestBot.stop() can hang on its pools; nothing is left to save.


if __name__ == "__main__":
    main()
