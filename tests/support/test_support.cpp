#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace medgw::test {

std::filesystem::path source_dir() { return MEDGW_SOURCE_DIR; }
std::filesystem::path binary_dir() { return MEDGW_BINARY_DIR; }

std::filesystem::path testdata_dir() {
  std::vector<std::filesystem::path> candidates;
  if (const char* env = std::getenv("MEDGW_TESTDATA")) candidates.emplace_back(env);
  candidates.push_back(source_dir() / ".." / "shared" / "testdata");
  candidates.emplace_back("/work/shared/testdata");
  for (const auto& candidate : candidates) {
    if (std::filesystem::is_directory(candidate / "age-cctv")) return std::filesystem::canonical(candidate);
  }
  FAIL("the public test data (shared/testdata) was not found; set MEDGW_TESTDATA to its folder");
  return {};
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) FAIL("cannot read " << file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::filesystem::path& file, std::string_view content) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) FAIL("cannot write " << file.string());
}

TempDir::TempDir() {
  std::random_device random;
  const std::filesystem::path base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto candidate = base / ("medgw-test-" + std::to_string(random()) + std::to_string(random()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  FAIL("cannot create a temporary folder under " << base.string());
}

TempDir::~TempDir() {
  std::error_code ec;
  // Make read-only test folders removable again.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec); !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
  }
  std::filesystem::remove_all(path_, ec);
}

void LogCapture::write(const log::Record& record) {
  {
    std::lock_guard lock(mutex_);
    lines_.push_back(log::format_record(record, false));
  }
  changed_.notify_all();
}

std::vector<std::string> LogCapture::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::string LogCapture::text() const {
  std::string out;
  for (const auto& line : lines()) out += line + "\n";
  return out;
}

bool LogCapture::contains(std::string_view needle) const {
  std::lock_guard lock(mutex_);
  for (const auto& line : lines_) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

bool LogCapture::wait_for(std::string_view needle, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    for (const auto& line : lines_) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  });
}

log::Logger capture_logger(std::shared_ptr<LogCapture> capture, std::string component) {
  auto core = std::make_shared<log::LogCore>(log::Level::debug);
  core->add_sink(std::move(capture));
  return log::Logger(core, std::move(component));
}

}  // namespace medgw::test
