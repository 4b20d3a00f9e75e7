#include "base/intrusive_list.h"

#include <gtest/gtest.h>

#include <vector>

namespace hakmem {
namespace {

struct Node {
  int value = 0;
  ListLinks<Node> a;
  ListLinks<Node> b;
};

using ListA = IntrusiveList<Node, &Node::a>;
using ListB = IntrusiveList<Node, &Node::b>;

std::vector<int> values(const ListA& l) {
  std::vector<int> v;
  for (Node* n = l.front(); n != nullptr; n = ListA::next(n)) v.push_back(n->value);
  return v;
}

TEST(IntrusiveList, PushPopRemoveKeepOrderAndSize) {
  Node n[5];
  for (int i = 0; i < 5; ++i) n[i].value = i;
  ListA l;
  l.push_back(&n[1]);
  l.push_back(&n[2]);
  l.push_front(&n[0]);
  l.push_back(&n[3]);
  EXPECT_EQ(values(l), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(l.size(), 4u);
  l.remove(&n[2]);
  EXPECT_EQ(values(l), (std::vector<int>{0, 1, 3}));
  l.remove(&n[0]);
  l.remove(&n[3]);
  EXPECT_EQ(values(l), (std::vector<int>{1}));
  EXPECT_EQ(l.front(), l.back());
  EXPECT_EQ(l.pop_front(), &n[1]);
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.pop_front(), nullptr);
}

TEST(IntrusiveList, OneElementOnTwoListsThroughTwoMembers) {
  Node n[2];
  n[0].value = 7;
  n[1].value = 8;
  ListA la;
  ListB lb;
  la.push_back(&n[0]);
  la.push_back(&n[1]);
  lb.push_back(&n[1]);
  lb.push_back(&n[0]);
  la.remove(&n[0]);
  EXPECT_EQ(values(la), (std::vector<int>{8}));
  EXPECT_EQ(lb.front(), &n[1]);
  EXPECT_EQ(ListB::next(lb.front()), &n[0]);
}

}  // namespace
}  // namespace hakmem
