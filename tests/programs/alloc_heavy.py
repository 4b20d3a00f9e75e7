"""Allocation-heavy Python work on 4 threads, with deterministic output.

Each thread builds and tears down dicts, lists, strings, bytes and bytearrays
of many sizes (1 B to 4 MiB), sorts, joins, encodes and decodes JSON, and
hands objects to the next thread through a queue (so they are freed by
another thread than the one that made them). Every thread digests what it
computed; the digests print in thread order at the end, so the output does
not depend on how the threads interleave.
"""
import hashlib
import json
import queue
import random
import sys
import threading

THREADS = 4
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 15


def sizes(rng):
    """Mostly small sizes, some mid, a few up to 4 MiB."""
    x = rng.random()
    if x < 0.75:
        return rng.randint(1, 1024)
    if x < 0.95:
        return rng.randint(1025, 64 * 1024)
    if x < 0.995:
        return rng.randint(64 * 1024, 1024 * 1024)
    return rng.randint(1024 * 1024, 4 * 1024 * 1024)


def work(index, inbox, outbox, results):
    rng = random.Random(1000 + index)
    h = hashlib.sha256()
    table = {}
    received = 0
    for r in range(ROUNDS):
        # Strings and a dict of lists.
        for i in range(300):
            key = "k%d-%d-%s" % (r, i, "x" * rng.randint(0, 40))
            table[key] = [rng.randint(0, 1 << 30) for _ in range(rng.randint(0, 60))]
        # bytes of many sizes, digested and dropped.
        for _ in range(40):
            b = rng.randbytes(sizes(rng))
            h.update(hashlib.sha256(b).digest())
        # A growing bytearray (realloc), and a join of many pieces.
        ba = bytearray()
        for i in range(rng.randint(100, 2000)):
            ba += bytes([i & 0xFF]) * rng.randint(1, 300)
        h.update(hashlib.sha256(ba).digest())
        pieces = [str(rng.random()) for _ in range(2000)]
        h.update("".join(sorted(pieces)).encode())
        # JSON round trip of part of the table.
        keys = sorted(table)[: 200]
        doc = json.dumps({k: table[k] for k in keys}, sort_keys=True)
        back = json.loads(doc)
        assert back == {k: table[k] for k in keys}
        h.update(doc.encode())
        # Drop about half of the table.
        for k in keys[::2]:
            del table[k]
        # Hand a batch of objects to the next thread; free what we received.
        outbox.put([{"n": i, "s": "v" * (i * 13 % 5000), "l": list(range(i % 100))} for i in range(200)])
        batch = inbox.get()
        received += len(batch)
        h.update(str(sum(len(o["s"]) + len(o["l"]) for o in batch)).encode())
        del batch
    h.update(json.dumps(sorted(table.items()), sort_keys=True).encode())
    results[index] = (h.hexdigest(), len(table), received)


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
    for i, (digest, left, received) in enumerate(results):
        print("thread %d: %s, %d keys left, %d objects received" % (i, digest, left, received))
    total = hashlib.sha256("".join(r[0] for r in results).encode()).hexdigest()
    print("all threads:", total)


if __name__ == "__main__":
    main()
