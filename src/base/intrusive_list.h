// An intrusive doubly-linked list: the element carries its links, so pushing
// and removing never allocate. Used for slabs, SuperSlabs and heaps.
//
// Layer: base. Not thread-safe: the owner of the list (a thread, or the holder
// of a lock) is the only one who touches the links.
#pragma once

#include <cstddef>

#include "base/check.h"

namespace hakmem {

template <typename T>
struct ListLinks {
  T* prev = nullptr;
  T* next = nullptr;
};

// `Links` is a pointer to the ListLinks<T> member of T that this list uses, so
// one element can sit on two lists at once through two members.
template <typename T, ListLinks<T> T::*Links>
class IntrusiveList {
 public:
  bool empty() const { return head_ == nullptr; }
  T* front() const { return head_; }
  T* back() const { return tail_; }
  std::size_t size() const { return size_; }
  static T* next(const T* e) { return (e->*Links).next; }

  void push_front(T* e) {
    auto& l = e->*Links;
    HAKMEM_ASSERT(l.prev == nullptr && l.next == nullptr && head_ != e);
    l.next = head_;
    if (head_ != nullptr) (head_->*Links).prev = e;
    head_ = e;
    if (tail_ == nullptr) tail_ = e;
    ++size_;
  }

  void push_back(T* e) {
    auto& l = e->*Links;
    HAKMEM_ASSERT(l.prev == nullptr && l.next == nullptr && head_ != e);
    l.prev = tail_;
    if (tail_ != nullptr) (tail_->*Links).next = e;
    tail_ = e;
    if (head_ == nullptr) head_ = e;
    ++size_;
  }

  // Links e in right after pos, which is on this list.
  void insert_after(T* pos, T* e) {
    auto& l = e->*Links;
    HAKMEM_ASSERT(l.prev == nullptr && l.next == nullptr && pos != e);
    auto& p = pos->*Links;
    l.prev = pos;
    l.next = p.next;
    if (p.next != nullptr) (p.next->*Links).prev = e; else tail_ = e;
    p.next = e;
    ++size_;
  }

  static T* prev(const T* e) { return (e->*Links).prev; }

  void remove(T* e) {
    auto& l = e->*Links;
    if (l.prev != nullptr) (l.prev->*Links).next = l.next; else head_ = l.next;
    if (l.next != nullptr) (l.next->*Links).prev = l.prev; else tail_ = l.prev;
    l.prev = l.next = nullptr;
    --size_;
  }

  T* pop_front() {
    T* e = head_;
    if (e != nullptr) remove(e);
    return e;
  }

  // Forgets every element without touching them (after fork, for example).
  void reset() { head_ = tail_ = nullptr; size_ = 0; }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace hakmem
