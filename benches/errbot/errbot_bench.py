"""Peer measurement for the rosey benchmark harness: Errbot's in-process test bot.

Run by `cargo run --release -p rosey-benches --bin bench` with the Python of a throwaway venv
under target/bench that has `errbot` installed. It writes a trivial plugin (`!hello` → `hi`),
starts `errbot.backends.test.TestBot`, and measures, the way the harness measures rosey:

* reload latency: `!plugin reload Hello` pushed, then a probe `!hello` pushed at once, and
  another probe each time one is answered before the reload's own answer; the sample is push of
  the reload → first `hi` after the reload was acknowledged;
* steady latency: `!hello` pushed → `hi` popped, one at a time;
* the sustained rate (when STEP_SECS > 0), searched exactly as the harness searches rosey's
  (benches/src/bin/bench/sustained.rs): `!hello <id>` (answered `hi <id>`, so every reply is
  matched to its command) pushed at a fixed rate for STEP_SECS by one thread, paced against
  the clock (every command due is pushed at each wake-up), replies popped and timed by another;
  a step passes when ≥ 95 % of the rate was pushed, every command was answered within 2 s of
  the last push, and the p99 of push → reply is ≤ LIMIT ms. Rates start at START and double
  while they pass (up to MAX); after the first failure BISECTIONS steps bisect between the best
  pass and it. The backlog of a step is waited out before the next: until no reply has come
  for 2 s, at most 30 s (the search stops when replies still come after that).

Prints one JSON object on stdout: errbot's version, the samples in ms, the sustained search, and
the process's VmRSS.
Usage: errbot_bench.py WORKDIR RELOADS STEADY WARMUP [STEP_SECS BISECTIONS START MAX LIMIT]
"""

import json
import logging
import os
import sys
import threading
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
        return f"hi {args}" if args else "hi"
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


def percentile(sorted_ms, p):
    """Nearest rank, as the harness's stats.rs."""
    if not sorted_ms:
        return None
    rank = -(-p * len(sorted_ms) // 100)
    return sorted_ms[min(max(int(rank), 1), len(sorted_ms)) - 1]


def sustained_step(bot, n, rate, step_secs, limit):
    total = max(1, round(rate * step_secs))
    sent = [0.0] * total
    first = {}
    last_reply = [time.perf_counter()]
    done = threading.Event()
    prefix = f"hi s{n}-"

    def collect():
        while not done.is_set():
            try:
                answer = bot.pop_message(timeout=0.05)
            except Empty:
                continue
            at = time.perf_counter()
            last_reply[0] = at
            if answer.startswith(prefix):
                try:
                    i = int(answer[len(prefix):])
                except ValueError:
                    continue
                first.setdefault(i, at)

    collector = threading.Thread(target=collect, daemon=True)
    collector.start()
    start = time.perf_counter()
    i = 0
    while i < total:
        now = time.perf_counter()
        due = min(total, int((now - start) * rate) + 1)
        while i < due:
            sent[i] = time.perf_counter()
            bot.push_message(f"!hello s{n}-{i}")
            i += 1
        if i < total:
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
    achieved = (total - 1) / (sent[-1] - sent[0]) if total > 1 and sent[-1] > sent[0] else 0.0

    def wait_all(limit_s):
        deadline = time.perf_counter() + limit_s
        while len(first) < total and time.perf_counter() < deadline:
            time.sleep(0.05)
        return len(first) >= total

    answered_all = wait_all(2.0)
    latencies = sorted((first[j] - sent[j]) * 1000.0 for j in list(first) if j < total)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    step = {
        "rate": float(rate),
        "achieved_rate": achieved,
        "sent": total,
        "answered": len(latencies),
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": latencies[-1] if latencies else None,
        "passed": False,
        "why": None,
    }
    if total > 1 and achieved < 0.95 * rate:
        step["why"] = f"the script pushed only {achieved:.0f}/s"
    elif not answered_all:
        step["why"] = f"{total - len(latencies)} of {total} not answered within 2 s"
    elif p99 is None or p99 > limit:
        step["why"] = f"p99 over {limit:g} ms"
    step["passed"] = step["why"] is None
    def wait_quiet(limit_s, quiet_s=2.0):
        deadline = time.perf_counter() + limit_s
        while time.perf_counter() < deadline:
            if time.perf_counter() - last_reply[0] >= quiet_s:
                return True
            time.sleep(0.05)
        return False

    clear = answered_all or wait_quiet(30.0)
    done.set()
    collector.join()
    # Anything still queued (a reply to an earlier step) must not reach the next one.
    while True:
        try:
            bot.pop_message(timeout=0.01)
        except Empty:
            break
    time.sleep(0.2)
    return step, clear


def sustained(bot, step_secs, bisections, start_rate, max_rate, limit):
    result = {
        "step_secs": step_secs,
        "p99_limit_ms": limit,
        "best_rate": None,
        "best_p50_ms": None,
        "best_p99_ms": None,
        "stopped": None,
        "steps": [],
    }
    passed = failed = None
    rate, n, done_bisections = start_rate, 0, 0
    while True:
        n += 1
        step, clear = sustained_step(bot, n, rate, step_secs, limit)
        result["steps"].append(step)
        if not clear:
            result["stopped"] = f"replies to the {rate:.0f}/s step still came 30 s after it"
            break
        if step["passed"]:
            passed = rate
        else:
            failed = rate
        if failed is None:
            if rate * 2 > max_rate:
                break
            nxt = rate * 2
        else:
            if done_bisections >= bisections:
                break
            done_bisections += 1
            low = passed if passed is not None and passed < failed else 0.0
            nxt = float(round((low + failed) / 2))
        if nxt <= 0 or nxt == passed or nxt == failed:
            break
        rate = nxt
    best = [s for s in result["steps"] if s["passed"]]
    if best:
        top = max(best, key=lambda s: s["rate"])
        result["best_rate"] = top["rate"]
        result["best_p50_ms"] = top["p50_ms"]
        result["best_p99_ms"] = top["p99_ms"]
    return result


def main():
    workdir, reloads, steady, warmup = sys.argv[1], *map(int, sys.argv[2:5])
    step_secs = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    bisections = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    start_rate = float(sys.argv[7]) if len(sys.argv) > 7 else 500.0
    max_rate = float(sys.argv[8]) if len(sys.argv) > 8 else 64000.0
    limit = float(sys.argv[9]) if len(sys.argv) > 9 else 10.0
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

    rss_after_measures = rss_kb()  # before the sustained search fills queues
    sustained_result = None
    if step_secs > 0:
        sustained_result = sustained(bot, step_secs, bisections, start_rate, max_rate, limit)

    result = {
        "errbot_version": getattr(errbot, "__version__", None)
        or __import__("importlib.metadata").metadata.version("errbot"),
        "python": sys.version.split()[0],
        "reload_ms": reload_ms,
        "reload_answered_before_reloaded": answered_early,
        "steady_ms": steady_ms,
        "rss_kb": rss_after_measures,
        "sustained": sustained_result,
    }
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # TestBot.stop() can hang on its pools; nothing is left to save.


if __name__ == "__main__":
    main()
