#!/usr/bin/env python3
"""An allocation-heavy, multithreaded Python program: the demo workload of
scripts/main-job.sh.

Four threads build and drop dicts, lists, strings and byte buffers from a
few bytes up to several MiB, and hand part of what they build to the next
thread through a queue, so that blocks are freed by another thread than the
one that allocated them. Run it with PYTHONMALLOC=malloc so that every
object goes through malloc. The output is deterministic.
"""
import hashlib
import queue
import random
import sys
import threading

THREADS = 4
ROUNDS = 30
OBJECTS_PER_ROUND = 5000


def work(index, inbox, outbox, results):
    rng = random.Random(1000 + index)
    digest = hashlib.sha256()
    objects = 0
    peak_live = 0
    for rnd in range(ROUNDS):
        live = []
        for i in range(OBJECTS_PER_ROUND):
            kind = rng.randrange(10)
            if kind < 4:
                obj = "x" * rng.randrange(1, 200) + str(i)
            elif kind < 6:
                obj = {str(k): k * i for k in range(rng.randrange(1, 40))}
            elif kind < 8:
                obj = [i] * rng.randrange(1, 2000)
            elif kind < 9:
                obj = bytes(rng.randrange(1024, 64 * 1024))
            else:
                obj = bytearray(rng.randrange(1, 8)) * 1024
            live.append(obj)
            objects += 1
            # Drop about half of what was built, in random order.
            if rng.random() < 0.5:
                live.pop(rng.randrange(len(live)))
        peak_live = max(peak_live, len(live))
        # Every few rounds: a huge buffer (above 1 MiB), grown in place.
        if rnd % 5 == 0:
            big = bytearray((1 + rnd % 4) * 1024 * 1024 + 4096)
            big.extend(b"\x01" * 1024 * 1024)
            digest.update(big[-16:])
            objects += 1
            del big
        # Pass a slice of the survivors to the next thread, which frees them.
        outbox.put(live[: len(live) // 4])
        received = inbox.get()
        for obj in received:
            digest.update(len(obj).to_bytes(8, "little"))
        del received
        for obj in live:
            digest.update(len(obj).to_bytes(8, "little"))
        del live
    results[index] = (objects, peak_live, digest.hexdigest()[:16])


def main():
    queues = [queue.Queue() for _ in range(THREADS)]
    results = [None] * THREADS
    threads = [
        threading.Thread(target=work, args=(i, queues[i], queues[(i + 1) % THREADS], results))
        for i in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = 0
    for i, (objects, peak_live, digest) in enumerate(results):
        print(f"thread {i}: {objects} objects built, at most {peak_live} alive in a round, "
              f"digest {digest}")
        total += objects
    print(f"{THREADS} threads, {total} objects in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
