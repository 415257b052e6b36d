#include "auth/tls_material.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::auth {
namespace {

namespace fs = std::filesystem;

// Generates keys and self-signed certificates with the openssl CLI once.
class TlsMaterialTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        absl::StrCat("auth_tls_test_", ::getpid()));
    fs::create_directories(*dir_);
    for (const char* name : {"a", "b"}) {
      std::string cmd = absl::StrCat(
          "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=", name, " -keyout ",
          Path(absl::StrCat(name, ".key")), " -out ", Path(absl::StrCat(name, ".crt")),
          " >/dev/null 2>&1");
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    std::string enc = absl::StrCat("openssl pkey -in ", Path("a.key"), " -aes256 -passout pass:x -out ",
                                   Path("enc.key"), " >/dev/null 2>&1");
    ASSERT_EQ(std::system(enc.c_str()), 0);
    std::ofstream(Path("junk.pem")) << "hello, not a certificate\n";
    std::ofstream(Path("damaged.pem"))
        << ReadAll(Path("a.crt")) << "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string Path(const std::string& name) { return (*dir_ / name).string(); }
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static config::HostSettings Host() {
    config::HostSettings host;
    host.host = "mirror:5000";
    return host;
  }

  static fs::path* dir_;
};
fs::path* TlsMaterialTest::dir_ = nullptr;

TEST_F(TlsMaterialTest, NoSettingsIsEmpty) {
  absl::StatusOr<TlsMaterial> got = LoadTlsMaterial(Host());
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->ca_pem.empty());
  EXPECT_TRUE(got->client_cert.empty());
}

TEST_F(TlsMaterialTest, LoadsCaAndMatchingClientPair) {
  config::HostSettings host = Host();
  host.ca_files = {Path("a.crt")};
  host.client_cert = Path("b.crt");
  host.client_key = Path("b.key");
  host.tls_server_name = "docker-registry";
  absl::StatusOr<TlsMaterial> got = LoadTlsMaterial(host);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->ca_pem, ReadAll(Path("a.crt")));
  EXPECT_EQ(got->client_key, Path("b.key"));
  EXPECT_EQ(got->tls_server_name, "docker-registry");
}

TEST_F(TlsMaterialTest, EveryCaFileInOrderEachEndingInNewline) {
  config::HostSettings host = Host();
  host.ca_files = {Path("b.crt"), Path("a.crt")};
  absl::StatusOr<TlsMaterial> got = LoadTlsMaterial(host);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(got->ca_files, testing::ElementsAre(Path("b.crt"), Path("a.crt")));
  EXPECT_EQ(got->ca_pem, ReadAll(Path("b.crt")) + ReadAll(Path("a.crt")));
  EXPECT_EQ(got->ca_pem.back(), '\n');
}

TEST_F(TlsMaterialTest, BadSecondCaFileIsNamed) {
  config::HostSettings host = Host();
  for (const char* bad : {"nope.crt", "junk.pem"}) {
    host.ca_files = {Path("a.crt"), Path(bad)};
    absl::StatusOr<TlsMaterial> got = LoadTlsMaterial(host);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << bad;
    EXPECT_THAT(got.status().message(),
                testing::HasSubstr("[host.\"mirror:5000\"].ca_file: " + Path(bad)))
        << bad;
  }
}

struct BadCase {
  std::string name;
  std::string ca_file, client_cert, client_key;
  std::string want_substr;
};

TEST_F(TlsMaterialTest, RejectsBadFilesNamingFileAndFix) {
  const BadCase cases[] = {
      {"MissingCa", "nope.crt", "", "", "ca_file: " + Path("nope.crt") + ": cannot read"},
      {"JunkCa", "junk.pem", "", "", "no PEM certificate"},
      {"DamagedCa", "damaged.pem", "", "", "damaged PEM block"},
      {"KeyMismatch", "", "a.crt", "b.key", "does not match the certificate"},
      {"OnlyCert", "", "a.crt", "", "must be set together"},
      {"EncryptedKey", "", "a.crt", "enc.key", "unencrypted PEM key"},
      {"CertIsJunk", "", "junk.pem", "a.key", "client_cert: " + Path("junk.pem")},
      {"MissingKey", "", "a.crt", "nope.key", "client_key: " + Path("nope.key")},
  };
  for (const BadCase& c : cases) {
    config::HostSettings host = Host();
    if (!c.ca_file.empty()) host.ca_files = {Path(c.ca_file)};
    if (!c.client_cert.empty()) host.client_cert = Path(c.client_cert);
    if (!c.client_key.empty()) host.client_key = Path(c.client_key);
    absl::StatusOr<TlsMaterial> got = LoadTlsMaterial(host);
    ASSERT_FALSE(got.ok()) << c.name;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << c.name;
    EXPECT_THAT(got.status().message(), testing::HasSubstr(c.want_substr)) << c.name;
    EXPECT_THAT(got.status().message(), testing::HasSubstr("[host.\"mirror:5000\"]")) << c.name;
  }
}

TEST_F(TlsMaterialTest, CombinedBundleAppendsExtraToSystem) {
  std::string system = ReadAll(Path("a.crt"));
  std::string extra = ReadAll(Path("b.crt"));
  EXPECT_EQ(CombinedCaBundle(Path("a.crt"), extra), system + extra);
  EXPECT_EQ(CombinedCaBundle("", extra), extra);
  EXPECT_EQ(CombinedCaBundle(Path("missing"), extra), extra);
  EXPECT_TRUE(ValidateCaPem(CombinedCaBundle(Path("a.crt"), extra), "x").ok());
}

}  // namespace
}  // namespace crimirror::auth
