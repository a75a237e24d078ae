// Inputs that the fuzz targets (fuzz/) once found crashing or exhausting memory, replayed through
// the same readers: each must now be read or refused with std::invalid_argument.
#include <boosthead/data/csv.h>
#include <boosthead/data/idx.h>
#include <boosthead/model_file.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::vector<std::string> regressions(const std::string& target) {
  const auto dir = fs::path(BOOSTHEAD_DATA_DIR).parent_path() / "fuzz" / "regressions" / target;
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path().string());
  return files;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// What the reader said: "" when it read the input, else the std::invalid_argument message; any
// other exception fails the test.
template <typename Fn>
std::string outcome(Fn&& fn) {
  try {
    fn();
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected std::invalid_argument, got: " << e.what();
    return "unexpected";
  }
}

}  // namespace

TEST(FuzzRegressions, CsvInputsRoundTrip) {
  const auto files = regressions("csv_fuzz");
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    boosthead::data::Table t;
    if (!outcome([&] { t = boosthead::data::parse_csv(read_bytes(f), f); }).empty()) continue;
    const auto back = boosthead::data::parse_csv(boosthead::data::to_csv(t));
    EXPECT_EQ(back.columns, t.columns);
    EXPECT_EQ(back.rows, t.rows);
  }
}

TEST(FuzzRegressions, IdxInputsAreRefused) {
  const auto files = regressions("idx_fuzz");
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    const auto message = outcome([&] { boosthead::data::read_idx(f); });
    EXPECT_NE(message.find(f), std::string::npos) << message;
  }
}

TEST(FuzzRegressions, ModelInputsAreRefusedBeforeLibTorchReadsThem) {
  const auto files = regressions("model_fuzz");
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    const auto message = outcome([&] { boosthead::check_torchscript_archive(f); });
    EXPECT_NE(message.find("model file '" + f + "': not a readable TorchScript archive"),
              std::string::npos)
        << message;
    EXPECT_NE(outcome([&] { boosthead::load_model(f); }), "");
  }
}
