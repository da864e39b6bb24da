// Content-Encoding decoding: gzip (also concatenated members), deflate zlib-wrapped and raw,
// corrupt and truncated input, the size cap, and reuse of the decoder between bodies.
#include "common/body_decoder.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace ld::proto {
namespace {

// window_bits: 16 + 15 gzip, 15 zlib, -15 raw deflate.
std::string compress(std::string_view in, int window_bits, int level = 6) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
std::string gzip(std::string_view in) { return compress(in, 16 + 15); }
std::string zlib_deflate(std::string_view in) { return compress(in, 15); }
std::string raw_deflate(std::string_view in) { return compress(in, -15); }

std::string body(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; s.size() < n; ++i)
    s += "{\"gzipped\": true, \"n\": " + std::to_string(i) + "}\n";
  s.resize(n);
  return s;
}

std::string decoded(BodyDecoder& d, ContentCoding c, std::string_view in) {
  std::string_view out;
  const char* err = d.decode(c, in, out);
  EXPECT_EQ(err, nullptr) << err;
  return std::string(out);
}

TEST(ContentCoding, NamesAreCaseInsensitiveAndListsAreRead) {
  EXPECT_EQ(parse_content_coding(""), ContentCoding::kIdentity);
  EXPECT_EQ(parse_content_coding("identity"), ContentCoding::kIdentity);
  EXPECT_EQ(parse_content_coding("gzip"), ContentCoding::kGzip);
  EXPECT_EQ(parse_content_coding("GZip"), ContentCoding::kGzip);
  EXPECT_EQ(parse_content_coding(" x-gzip "), ContentCoding::kGzip);
  EXPECT_EQ(parse_content_coding("Deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(parse_content_coding("identity, gzip"), ContentCoding::kGzip);
  EXPECT_EQ(parse_content_coding("br"), ContentCoding::kOther);
  EXPECT_EQ(parse_content_coding("deflate, gzip"), ContentCoding::kOther);  // stacked
}

TEST(BodyDecoder, GzipRoundTrips) {
  BodyDecoder d;
  const std::string text = body(100000);
  EXPECT_EQ(decoded(d, ContentCoding::kGzip, gzip(text)), text);
}

TEST(BodyDecoder, DeflateAcceptsZlibWrappedAndRaw) {
  BodyDecoder d;
  const std::string text = body(5000);
  EXPECT_EQ(decoded(d, ContentCoding::kDeflate, zlib_deflate(text)), text);
  EXPECT_EQ(decoded(d, ContentCoding::kDeflate, raw_deflate(text)), text);
  EXPECT_EQ(decoded(d, ContentCoding::kDeflate, zlib_deflate(text)), text);  // back again
}

TEST(BodyDecoder, ConcatenatedGzipMembersAreAllDecoded) {
  BodyDecoder d;
  EXPECT_EQ(decoded(d, ContentCoding::kGzip, gzip("hello ") + gzip("world")), "hello world");
}

TEST(BodyDecoder, IdentityUnknownAndEmptyBodiesPassThrough) {
  BodyDecoder d;
  EXPECT_EQ(decoded(d, ContentCoding::kIdentity, "plain"), "plain");
  EXPECT_EQ(decoded(d, ContentCoding::kOther, "\x1b\x2c"), "\x1b\x2c");
  EXPECT_EQ(decoded(d, ContentCoding::kGzip, ""), "");  // HEAD, 204, 304
}

TEST(BodyDecoder, CorruptAndTruncatedBodiesFail) {
  BodyDecoder d;
  std::string_view out;
  EXPECT_STREQ(d.decode(ContentCoding::kGzip, "this is not gzip", out), "corrupt compressed body");
  EXPECT_STREQ(d.decode(ContentCoding::kDeflate, "neither zlib nor raw \xff\xff", out),
               "corrupt compressed body");
  std::string z = gzip(body(10000));
  EXPECT_STREQ(d.decode(ContentCoding::kGzip, std::string_view(z).substr(0, z.size() / 2), out),
               "corrupt compressed body");
  z[z.size() - 3] ^= 0x55;  // the CRC/length trailer no longer matches
  EXPECT_STREQ(d.decode(ContentCoding::kGzip, z, out), "corrupt compressed body");
  // The decoder still works after failures.
  EXPECT_EQ(decoded(d, ContentCoding::kGzip, gzip("ok")), "ok");
}

TEST(BodyDecoder, OutputIsCappedAtTheLimit) {
  BodyDecoder small(1000);
  std::string_view out;
  EXPECT_EQ(decoded(small, ContentCoding::kGzip, gzip(std::string(1000, 'a'))),
            std::string(1000, 'a'));  // exactly the cap is fine
  EXPECT_STREQ(small.decode(ContentCoding::kGzip, gzip(std::string(1001, 'a')), out),
               "decompressed body too large");
  EXPECT_STREQ(small.decode(ContentCoding::kDeflate, zlib_deflate(std::string(5000, 'a')), out),
               "decompressed body too large");
}

TEST(BodyDecoder, ZipBombStopsAtTheDefaultCap) {
  // 100 MiB of zeros compress to about 100 KB.
  const std::string bomb = gzip(std::string(100u << 20, '\0'));
  ASSERT_LT(bomb.size(), 200u * 1024u);
  BodyDecoder d;
  std::string_view out;
  EXPECT_STREQ(d.decode(ContentCoding::kGzip, bomb, out), "decompressed body too large");
  EXPECT_EQ(BodyDecoder::kDefaultMaxBytes, 64u << 20);
}

TEST(BodyDecoder, ReusesItsBufferOnceGrown) {
  BodyDecoder d;
  const std::string a = gzip(body(50000));
  std::string_view first, second;
  ASSERT_EQ(d.decode(ContentCoding::kGzip, a, first), nullptr);
  const char* data = first.data();
  ASSERT_EQ(d.decode(ContentCoding::kGzip, gzip(body(40000)), second), nullptr);
  EXPECT_EQ(second.data(), data);
  EXPECT_EQ(std::string(second), body(40000));
}

}  // namespace
}  // namespace ld::proto
