#include <claims/dpc_files.hpp>

#include <base/text.hpp>

#include <claims/text_split.hpp>

#include <algorithm>

namespace medgw::claims {

std::string_view file_name_of(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string month_folder_of(std::string_view path) {
  const auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return {};
  std::string_view folder = path.substr(0, slash);
  if (const auto up = folder.rfind('/'); up != std::string_view::npos) folder = folder.substr(up + 1);
  return folder.size() == 6 && base::all_digits(folder) ? std::string(folder) : std::string();
}

DpcName parse_dpc_name(std::string_view path) {
  DpcName out;
  std::string_view stem = file_name_of(path);
  if (const auto dot = stem.rfind('.'); dot != std::string_view::npos) stem = stem.substr(0, dot);
  const auto tokens = split_on(stem, '_');
  for (std::size_t i = 0; i < tokens.size() && out.kind == nullptr; ++i) {
    for (const DpcKind& kind : dpc_kinds) {
      if (tokens[i] != kind.prefix) continue;
      out.kind = &kind;
      if (i + 1 < tokens.size() && tokens[i + 1].size() == 9 && base::all_digits(tokens[i + 1])) out.facility = tokens[i + 1];
      if (i + 2 < tokens.size() && tokens[i + 2].size() == 4 && base::all_digits(tokens[i + 2])) {
        out.month = "20" + std::string(tokens[i + 2]);
      }
      break;
    }
  }
  if (out.month.empty()) out.month = month_folder_of(path);
  return out;
}

const DpcKind* dpc_kind_from_record(const std::vector<std::string_view>& fields) {
  switch (fields.size()) {
    case 31: return &dpc_kinds[fields[29] == "1" ? 3 : 2];
    case 30: return &dpc_kinds[4];
    case 17: return &dpc_kinds[0];
    case 5: return &dpc_kinds[1];
    default: return nullptr;
  }
}

std::size_t dpc_id_column(std::string_view path) {
  const DpcName name = parse_dpc_name(path);
  return name.kind != nullptr ? name.kind->id_column : 0;
}

}  // namespace medgw::claims
