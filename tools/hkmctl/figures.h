// Every figure of the sections hkmctl knows by name, for JSON keys and
// `get`: one list, so that the human and JSON outputs never disagree.
//
// Layer: tools/hkmctl.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "block_reader.h"

namespace hakmem::hkmctl {

using NamedFigures = std::vector<std::pair<const char*, std::uint64_t>>;

NamedFigures summary_figures(const layout::Summary& s);
NamedFigures node_figures(const layout::NodeFigures& n);
NamedFigures tier_figures(const layout::TierFigures& t);
NamedFigures class_figures(const layout::ClassFigures& c);
NamedFigures thread_figures(const layout::ThreadFigures& t);

std::string figures_json(const NamedFigures& f);
const char* tier_name(std::uint64_t tier);

}  // namespace hakmem::hkmctl
