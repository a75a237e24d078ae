#include <boosthead/data/idx.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace bd = boosthead::data;
using boosthead::test::TempDir;

namespace {

void put_u32(std::string& out, uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xFF);
  out += static_cast<char>((v >> 16) & 0xFF);
  out += static_cast<char>((v >> 8) & 0xFF);
  out += static_cast<char>(v & 0xFF);
}

template <typename T>
void put_big_endian(std::string& out, T value) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  const uint16_t probe = 1;
  const bool little = *reinterpret_cast<const unsigned char*>(&probe) == 1;
  for (size_t i = 0; i < sizeof(T); ++i)
    out += static_cast<char>(bytes[little ? sizeof(T) - 1 - i : i]);
}

std::string idx_header(uint8_t type, const std::vector<uint32_t>& dims) {
  std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) put_u32(out, d);
  return out;
}

template <typename T>
std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims,
                      const std::vector<T>& values) {
  std::string out = idx_header(type, dims);
  for (T v : values) put_big_endian(out, v);
  return out;
}

void write_plain(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// 2 images of 2 x 3 pixels, and 4 labels.
std::vector<uint8_t> image_values() { return {0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6}; }
std::string image_file() { return idx_bytes<uint8_t>(0x08, {2, 2, 3}, image_values()); }
std::string label_file() { return idx_bytes<uint8_t>(0x08, {4}, {3, 0, 9, 255}); }

}  // namespace

TEST(Idx, ReadsPlainUint8) {
  TempDir dir;
  const auto path = dir.file("images-idx3-ubyte");
  write_plain(path, image_file());
  const auto t = bd::read_idx(path);
  EXPECT_EQ(t.scalar_type(), torch::kUInt8);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 2, 3}));
  const auto expected =
      torch::tensor(std::vector<int64_t>{0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6})
          .to(torch::kUInt8)
          .view({2, 2, 3});
  EXPECT_TRUE(torch::equal(t, expected)) << t;
}

TEST(Idx, GzipMatchesPlain) {
  TempDir dir;
  write_plain(dir.file("a"), image_file());
  write_gzip(dir.file("a.gz"), image_file());
  EXPECT_NE(read_all(dir.file("a.gz")), image_file());  // really compressed
  EXPECT_TRUE(torch::equal(bd::read_idx(dir.file("a")), bd::read_idx(dir.file("a.gz"))));
}

TEST(Idx, GzipDetectedFromContentNotName) {
  TempDir dir;
  write_gzip(dir.file("no-extension"), label_file());
  write_plain(dir.file("plain.gz"), label_file());
  EXPECT_TRUE(
      torch::equal(bd::read_idx(dir.file("no-extension")), bd::read_idx(dir.file("plain.gz"))));
}

TEST(Idx, ReadsEveryElementTypeBigEndian) {
  TempDir dir;
  const auto check = [&](const std::string& name, const std::string& bytes,
                         const torch::Tensor& expected) {
    SCOPED_TRACE(name);
    write_plain(dir.file(name), bytes);
    write_gzip(dir.file(name + ".gz"), bytes);
    for (const auto& p : {dir.file(name), dir.file(name + ".gz")}) {
      const auto t = bd::read_idx(p);
      EXPECT_EQ(t.scalar_type(), expected.scalar_type());
      EXPECT_TRUE(torch::equal(t, expected)) << t;
    }
  };
  check("int8", idx_bytes<int8_t>(0x09, {3}, {-128, -1, 127}),
        torch::tensor(std::vector<int64_t>{-128, -1, 127}).to(torch::kInt8));
  check("int16", idx_bytes<int16_t>(0x0B, {2, 2}, {-2, 258, 32767, -32768}),
        torch::tensor(std::vector<int64_t>{-2, 258, 32767, -32768}).to(torch::kInt16).view({2, 2}));
  check("int32", idx_bytes<int32_t>(0x0C, {3}, {-70000, 16909060, 2147483647}),
        torch::tensor(std::vector<int64_t>{-70000, 16909060, 2147483647}).to(torch::kInt32));
  check("float32", idx_bytes<float>(0x0D, {1, 3}, {1.5f, -0.25f, 3e38f}),
        torch::tensor(std::vector<float>{1.5f, -0.25f, 3e38f}).view({1, 3}));
  check("float64", idx_bytes<double>(0x0E, {2}, {1e300, -1.0 / 3.0}),
        torch::tensor(std::vector<double>{1e300, -1.0 / 3.0}, torch::kFloat64));
}

TEST(Idx, ZeroSizedDimensionGivesEmptyTensor) {
  TempDir dir;
  write_plain(dir.file("empty"), idx_header(0x08, {0, 28, 28}));
  const auto t = bd::read_idx(dir.file("empty"));
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{0, 28, 28}));
}

TEST(Idx, ReadImagesScalesToUnitFloat) {
  TempDir dir;
  write_gzip(dir.file("img.gz"), image_file());
  const auto x = bd::read_idx_images(dir.file("img.gz"));
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{2, 1, 2, 3}));
  EXPECT_FLOAT_EQ(x[0][0][0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(x[0][0][0][1].item<float>(), 0.2f);
  EXPECT_FLOAT_EQ(x[0][0][1][2].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(x[1][0][1][2].item<float>(), 6.0f / 255.0f);
}

TEST(Idx, ReadLabelsAsInt64) {
  TempDir dir;
  write_plain(dir.file("labels"), label_file());
  const auto y = bd::read_idx_labels(dir.file("labels"));
  EXPECT_EQ(y.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(y, torch::tensor(std::vector<int64_t>{3, 0, 9, 255})));
}

TEST(Idx, ImagesAndLabelsCheckShapeAndType) {
  TempDir dir;
  write_plain(dir.file("labels"), label_file());
  write_plain(dir.file("images"), image_file());
  write_plain(dir.file("float3d"), idx_bytes<float>(0x0D, {1, 1, 1}, {0.5f}));
  write_plain(dir.file("int8_1d"), idx_bytes<int8_t>(0x09, {1}, {1}));
  EXPECT_ERROR_HAS(bd::read_idx_images(dir.file("labels")), "3-D uint8");
  EXPECT_ERROR_HAS(bd::read_idx_images(dir.file("float3d")), "3-D uint8");
  EXPECT_ERROR_HAS(bd::read_idx_labels(dir.file("images")), "1-D uint8");
  EXPECT_ERROR_HAS(bd::read_idx_labels(dir.file("int8_1d")), "1-D uint8");
  EXPECT_ERROR_HAS(bd::read_idx_labels(dir.file("images")), dir.file("images"));
}

TEST(Idx, MissingAndEmptyFiles) {
  TempDir dir;
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("nope")),
                   "cannot open IDX file '" + dir.file("nope") + "'");
  write_plain(dir.file("empty"), "");
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("empty")), "empty file");
  write_gzip(dir.file("empty.gz"), "");
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("empty.gz")), "empty file");
}

TEST(Idx, BadHeaders) {
  TempDir dir;
  const auto expect_error = [&](const std::string& name, const std::string& bytes,
                                const std::string& needle) {
    SCOPED_TRACE(name);
    write_plain(dir.file(name), bytes);
    EXPECT_ERROR_HAS(bd::read_idx(dir.file(name)), dir.file(name) + ": ");
    EXPECT_ERROR_HAS(bd::read_idx(dir.file(name)), needle);
    write_gzip(dir.file(name + ".gz"), bytes);
    EXPECT_ERROR_HAS(bd::read_idx(dir.file(name + ".gz")), needle);
  };
  expect_error("magic", std::string("\x12\x34\x08\x01\0\0\0\0", 8),
               "bad IDX magic number 0x12340801");
  expect_error("text", "hello,world\n1,2\n", "bad IDX magic number");
  expect_error("type", idx_header(0x0A, {1}) + "x", "unsupported IDX type code 0x0A");
  expect_error("zero_dims", idx_header(0x08, {}), "dimension count 0");
  expect_error("short_magic", std::string("\0\0", 2), "truncated IDX header");
  expect_error("short_dims", idx_header(0x08, {2, 3}).substr(0, 9), "truncated IDX header");
}

TEST(Idx, HugeDeclaredSizeIsRejectedBeforeAllocating) {
  TempDir dir;
  write_plain(dir.file("huge"), idx_header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}) + "abc");
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("huge")), "over the 4 GiB limit");
  write_plain(dir.file("big"), idx_header(0x08, {65536, 65537}));
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("big")), "over the 4 GiB limit");
}

TEST(Idx, TruncatedPayload) {
  TempDir dir;
  const auto bytes = image_file();
  const auto cut = bytes.substr(0, bytes.size() - 5);
  write_plain(dir.file("cut"), cut);
  write_gzip(dir.file("cut.gz"), cut);
  for (const auto& p : {dir.file("cut"), dir.file("cut.gz")}) {
    EXPECT_ERROR_HAS(bd::read_idx(p), "truncated IDX data");
    EXPECT_ERROR_HAS(bd::read_idx(p), "(12 bytes) but only 7 bytes follow");
  }
}

// Found by fuzz/idx_fuzz: a 16-byte file declaring 4 GiB of data made the reader allocate it all
// before noticing the data was missing. Now the declared size is checked against the file first.
TEST(Idx, HeaderClaimingMoreThanTheFileHoldsIsRejectedBeforeAllocating) {
  TempDir dir;
  const auto bytes = idx_header(0x08, {0xFFFFFFFBu}) + "abcd";
  write_plain(dir.file("claim"), bytes);
  write_gzip(dir.file("claim.gz"), bytes);
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("claim")), "(4294967291 bytes) but only 4 bytes follow");
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("claim.gz")),
                   "(4294967291 bytes), more than its gzip data can hold");
}

// Found by fuzz/idx_fuzz: an empty array (a zero dimension) whose other dimensions multiply past
// int64 made torch::empty throw c10::Error instead of our own error.
TEST(Idx, EmptyArrayWithHugeDimensionsIsRejected) {
  TempDir dir;
  write_plain(dir.file("empty_huge"), idx_header(0x0B, {0, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}));
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("empty_huge")), "over the 4 GiB limit");
  write_plain(dir.file("empty"), idx_header(0x08, {0, 28, 28}));
  EXPECT_EQ(bd::read_idx(dir.file("empty")).sizes(), (std::vector<int64_t>{0, 28, 28}));
}

TEST(Idx, TrailingBytes) {
  TempDir dir;
  const auto bytes = image_file() + "xyz";
  write_plain(dir.file("extra"), bytes);
  write_gzip(dir.file("extra.gz"), bytes);
  for (const auto& p : {dir.file("extra"), dir.file("extra.gz")}) {
    EXPECT_ERROR_HAS(bd::read_idx(p), "3 trailing bytes after the 12-byte IDX payload");
  }
}

TEST(Idx, CutOffGzipStreamIsAnError) {
  TempDir dir;
  // Enough incompressible-looking data that the deflate stream spans many bytes.
  std::vector<uint8_t> values(4000);
  uint32_t state = 12345;
  for (auto& v : values) {
    state = state * 1103515245u + 12345u;
    v = static_cast<uint8_t>(state >> 24);
  }
  write_gzip(dir.file("full.gz"), idx_bytes<uint8_t>(0x08, {4000}, values));
  const auto whole = read_all(dir.file("full.gz"));
  ASSERT_GT(whole.size(), 1000u);
  write_plain(dir.file("cut.gz"), whole.substr(0, whole.size() / 2));
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("cut.gz")), dir.file("cut.gz"));
  // Damaged trailer: the data decodes but the CRC no longer matches.
  auto bad_crc = whole;
  bad_crc[bad_crc.size() - 6] = static_cast<char>(bad_crc[bad_crc.size() - 6] ^ 0xFF);
  write_plain(dir.file("crc.gz"), bad_crc);
  EXPECT_ERROR_HAS(bd::read_idx(dir.file("crc.gz")), dir.file("crc.gz"));
}

TEST(Idx, FashionMnistIfInstalled) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  const auto images = dir + "/t10k-images-idx3-ubyte.gz";
  const auto labels = dir + "/t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(images) || !std::filesystem::exists(labels)) {
    GTEST_SKIP() << "Fashion-MNIST not installed (Debian package dataset-fashion-mnist)";
  }
  const auto x = bd::read_idx_images(images);
  const auto y = bd::read_idx_labels(labels);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{10000}));
  EXPECT_GE(x.min().item<float>(), 0.0f);
  EXPECT_LE(x.max().item<float>(), 1.0f);
  EXPECT_GT(x.max().item<float>(), 0.9f);
  EXPECT_TRUE(torch::equal(torch::bincount(y), torch::full({10}, 1000, torch::kInt64)));
}
