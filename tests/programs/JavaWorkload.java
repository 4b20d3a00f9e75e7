// A JVM workload for node_and_java.sh: collections, strings, a parallel
// stream and threads, each ending in a checksum that the run without
// preload must match.
import java.util.*;
import java.util.concurrent.*;
import java.util.stream.*;
import java.util.zip.CRC32;

public class JavaWorkload {
  static long crc(String s) {
    CRC32 c = new CRC32();
    c.update(s.getBytes());
    return c.getValue();
  }

  public static void main(String[] args) throws Exception {
    long x = 42;
    List<String> names = new ArrayList<>();
    Map<String, Integer> counts = new HashMap<>();
    for (int i = 0; i < 300000; i++) {
      x = (x * 16807) % 2147483647L;
      String name = "n" + Long.toString(x % 50000, 36);
      names.add(name);
      counts.merge(name, 1, Integer::sum);
    }
    Collections.sort(names);
    System.out.println("sorted " + crc(String.join(",", names.subList(0, 1000))) + " distinct " + counts.size());
    long sum = IntStream.range(0, 2000000).parallel().mapToLong(i -> (long) i * i % 1000003).sum();
    System.out.println("stream " + sum);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    List<Future<Long>> parts = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      final int seed = t;
      parts.add(pool.submit(() -> {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 100000; i++) sb.append(seed * 31 + i % 97).append(';');
        return crc(sb.toString());
      }));
    }
    long total = 0;
    for (Future<Long> f : parts) total ^= f.get();
    pool.shutdown();
    System.out.println("threads " + total);
  }
}
