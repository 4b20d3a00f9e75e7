// hkm_ctl_get / hkm_ctl_set / hkm_report_json (report_json.h).
// Layer: control. No allocation.
#include "control/report_json.h"

#include <cerrno>
#include <cstring>

#include "base/format.h"
#include "control/knobs.h"
#include "control/layout.h"
#include "control/publish.h"
#include "control/service.h"

namespace hakmem::control {

namespace L = layout;

namespace {

// Appends to a caller's buffer, counting what did not fit.
class Sink {
 public:
  Sink(char* buf, std::size_t size) : buf_(buf), size_(size) {}
  void put(const char* s, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i, ++len_) {
      if (size_ != 0 && len_ < size_ - 1) buf_[len_] = s[i];
    }
  }
  void put(const char* s) { put(s, std::strlen(s)); }
  void number(std::uint64_t v) {
    Formatter f;
    f.dec(v);
    put(f.view().data(), f.size());
  }
  std::size_t finish() {
    if (size_ != 0) buf_[len_ < size_ - 1 ? len_ : size_ - 1] = '\0';
    return len_;
  }

 private:
  char* buf_;
  std::size_t size_;
  std::size_t len_ = 0;
};

std::uint64_t field_of(const L::Summary& s, const L::FieldDesc& d) {
  std::uint64_t v = 0;
  std::memcpy(&v, reinterpret_cast<const char*>(&s) + d.offset, sizeof(v));
  return v;
}

}  // namespace

int ctl_get(const char* name, std::uint64_t* value) {
  if (name == nullptr || value == nullptr) return EINVAL;
  if (knob_get(name, value) == KnobResult::kOk) return 0;
  std::uint32_t count = 0;
  const L::FieldDesc* schema = field_schema(&count);
  for (std::uint32_t i = 0; i < count; ++i) {
    if (schema[i].section != L::kSummary || std::strcmp(schema[i].name, name) != 0) continue;
    L::Summary s;
    gather_summary(&s);
    *value = field_of(s, schema[i]);
    return 0;
  }
  return ENOENT;
}

int ctl_set(const char* name, std::uint64_t value) {
  if (name == nullptr) return EINVAL;
  switch (knob_set(name, value, nullptr)) {
    case KnobResult::kOk: return 0;
    case KnobResult::kUnknown: return ENOENT;
    case KnobResult::kStartupOnly: return EPERM;
    case KnobResult::kOutOfRange: return ERANGE;
  }
  return EINVAL;
}

std::size_t report_json(char* buf, std::size_t size) {
  Sink out(buf, size);
  L::Summary s;
  gather_summary(&s);
  std::uint32_t count = 0;
  const L::FieldDesc* schema = field_schema(&count);
  out.put("{\"summary\":{");
  bool first = true;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (schema[i].section != L::kSummary) continue;
    if (!first) out.put(",");
    first = false;
    out.put("\"");
    out.put(schema[i].name);
    out.put("\":");
    out.number(field_of(s, schema[i]));
  }
  out.put("},\"knobs\":{");
  // Names and values only; hkmctl's `get` shows ranges and units.
  L::Knob knobs[kMaxKnobs];
  const std::uint32_t n = knob_count();
  write_knobs(knobs);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (i != 0) out.put(",");
    out.put("\"");
    out.put(knobs[i].name);
    out.put("\":");
    out.number(knobs[i].value);
  }
  out.put("}}");
  return out.finish();
}

}  // namespace hakmem::control
