// A C++ program that allocates with new and delete on several threads, for
// threaded_new_delete.sh, which runs it with and without libhakmem.so and
// compares the output. Not linked to hakmem.
//
// Six threads each build and destroy standard containers (map, unordered_map,
// list, deque, string, vector, shared_ptr graphs), use new[] / delete[],
// over-aligned new, nothrow new and huge arrays, and pass unique_ptr
// messages around a ring of queues, so that most messages are deleted by
// another thread than the one that made them. Each thread digests its
// results; the digests print in thread order after the joins, so the output
// does not depend on the interleaving.
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kThreads = 6;
constexpr int kRounds = 300;
constexpr int kMessagesPerRound = 40;

struct Digest {
  std::uint64_t h = 1469598103934665603ull;
  void add(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (i * 8)) & 0xff;
      h *= 1099511628211ull;
    }
  }
  void add(const std::string& s) {
    add(s.size());
    for (unsigned char c : s) add(c);
  }
};

struct Message {
  int from;
  int seq;
  std::string text;
  std::vector<std::uint32_t> payload;
};

// A queue between two neighbours of the ring.
class Queue {
 public:
  void push(std::unique_ptr<Message> m) {
    {
      std::lock_guard<std::mutex> g(mu_);
      q_.push_back(std::move(m));
    }
    cv_.notify_one();
  }
  std::unique_ptr<Message> pop() {
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait(g, [&] { return !q_.empty(); });
    auto m = std::move(q_.front());
    q_.pop_front();
    return m;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Message>> q_;
};

struct alignas(64) Aligned {
  std::uint64_t words[8];
};

struct Node {
  int value;
  std::vector<std::shared_ptr<Node>> children;
};

std::uint64_t xorshift(std::uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

void work(int id, Queue* inbox, Queue* outbox, std::uint64_t* result) {
  std::uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(id + 1);
  Digest d;
  std::map<std::string, std::vector<int>> index;
  std::list<std::string> recent;
  for (int round = 0; round < kRounds; ++round) {
    // Send a batch to the next thread, receive one from the previous.
    for (int i = 0; i < kMessagesPerRound; ++i) {
      auto m = std::make_unique<Message>();
      m->from = id;
      m->seq = round * kMessagesPerRound + i;
      m->text = std::string(xorshift(x) % 3000, static_cast<char>('a' + i % 26));
      m->payload.resize(xorshift(x) % 500, static_cast<std::uint32_t>(i));
      outbox->push(std::move(m));
    }
    for (int i = 0; i < kMessagesPerRound; ++i) {
      std::unique_ptr<Message> m = inbox->pop();
      d.add(static_cast<std::uint64_t>(m->from) << 32 | static_cast<std::uint32_t>(m->seq));
      d.add(m->text.size() + m->payload.size());
    }  // deleted here, by another thread than the sender

    // Containers.
    for (int i = 0; i < 50; ++i) {
      std::string key = "key" + std::to_string(xorshift(x) % 400);
      index[key].push_back(static_cast<int>(xorshift(x) % 1000));
      recent.push_back(key + std::string(xorshift(x) % 100, '#'));
      if (recent.size() > 200) recent.pop_front();
    }
    if (round % 10 == 9) {
      for (auto it = index.begin(); it != index.end();) it = it->second.size() > 3 ? index.erase(it) : std::next(it);
    }
    std::unordered_map<std::uint64_t, std::string> table;
    for (int i = 0; i < 200; ++i) table[xorshift(x) % 150] += static_cast<char>('A' + i % 26);
    std::uint64_t sum = 0;
    for (std::uint64_t k = 0; k < 150; ++k) {
      auto it = table.find(k);
      if (it != table.end()) sum += k * it->second.size();
    }
    d.add(sum);

    // new[] and delete[], over-aligned and nothrow new.
    const std::size_t n = xorshift(x) % 20000 + 1;
    auto* arr = new std::uint32_t[n];
    for (std::size_t i = 0; i < n; ++i) arr[i] = static_cast<std::uint32_t>(i * 2654435761u);
    std::uint64_t asum = 0;
    for (std::size_t i = 0; i < n; i += 97) asum += arr[i];
    delete[] arr;
    d.add(asum);
    auto* al = new Aligned[3];
    d.add(reinterpret_cast<std::uintptr_t>(al) % alignof(Aligned));
    delete[] al;
    auto* nt = new (std::nothrow) std::uint64_t[1000];
    d.add(nt != nullptr);
    delete[] nt;

    // A shared_ptr tree, dropped at the end of the round.
    auto root = std::make_shared<Node>();
    root->value = round;
    std::vector<std::shared_ptr<Node>> frontier{root};
    int nodes = 1;
    while (nodes < 300 && !frontier.empty()) {
      auto parent = frontier.front();
      frontier.erase(frontier.begin());
      for (int c = 0; c < 3; ++c) {
        auto child = std::make_shared<Node>();
        child->value = parent->value * 3 + c;
        parent->children.push_back(child);
        frontier.push_back(child);
        ++nodes;
      }
    }
    d.add(static_cast<std::uint64_t>(nodes));

    // Now and then a huge array (several MiB).
    if (round % 50 == 0) {
      std::vector<std::uint64_t> big((3u << 20) / 8 + xorshift(x) % 100000);
      for (std::size_t i = 0; i < big.size(); i += 512) big[i] = i;
      std::uint64_t bsum = 0;
      for (std::size_t i = 0; i < big.size(); i += 512) bsum += big[i];
      d.add(bsum);
    }
  }
  for (const auto& [k, v] : index) {
    d.add(k);
    d.add(v.size());
  }
  for (const auto& s : recent) d.add(s);
  *result = d.h;
}

}  // namespace

int main() {
  std::vector<Queue> queues(kThreads);
  std::vector<std::uint64_t> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(work, i, &queues[static_cast<std::size_t>(i)],
                         &queues[static_cast<std::size_t>((i + 1) % kThreads)], &results[static_cast<std::size_t>(i)]);
  }
  for (auto& t : threads) t.join();
  Digest all;
  for (int i = 0; i < kThreads; ++i) {
    std::printf("thread %d: %016llx\n", i, static_cast<unsigned long long>(results[static_cast<std::size_t>(i)]));
    all.add(results[static_cast<std::size_t>(i)]);
  }
  std::printf("all threads: %016llx\n", static_cast<unsigned long long>(all.h));
  return 0;
}
