// Copyright cri-mirror authors.
#include "tests/integration/testbed/tar_layer.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/strings/str_format.h"

namespace crimirror::testbed {
namespace {

constexpr size_t kTarBlock = 512;
constexpr size_t kMaxStoredBlock = 65535;

// Writes `value` as zero-padded octal with a trailing NUL into `field`.
void Octal(char* field, size_t width, uint64_t value) {
  std::string s = absl::StrFormat("%0*o", static_cast<int>(width - 1), value);
  std::memcpy(field, s.data(), width - 1);
  field[width - 1] = '\0';
}

char TypeFlag(TarEntry::Type type) {
  switch (type) {
    case TarEntry::Type::kDirectory:
      return '5';
    case TarEntry::Type::kSymlink:
      return '2';
    case TarEntry::Type::kFile:
      break;
  }
  return '0';
}

std::string TarHeader(const TarEntry& entry, uint64_t size) {
  std::array<char, kTarBlock> h{};
  std::memcpy(h.data(), entry.path.data(), std::min<size_t>(entry.path.size(), 100));
  Octal(&h[100], 8, entry.mode);  // mode
  Octal(&h[108], 8, 0);           // uid
  Octal(&h[116], 8, 0);           // gid
  Octal(&h[124], 12, size);       // size
  Octal(&h[136], 12, 0);          // mtime
  std::memset(&h[148], ' ', 8);   // checksum placeholder
  h[156] = TypeFlag(entry.type);
  if (entry.type == TarEntry::Type::kSymlink) {
    std::memcpy(&h[157], entry.link_target.data(),
                std::min<size_t>(entry.link_target.size(), 100));
  }
  std::memcpy(&h[257], "ustar", 6);
  std::memcpy(&h[263], "00", 2);
  std::memcpy(&h[265], "root", 4);
  std::memcpy(&h[297], "root", 4);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::string chk = absl::StrFormat("%06o", sum);
  std::memcpy(&h[148], chk.data(), 6);
  h[154] = '\0';
  h[155] = ' ';
  return std::string(h.data(), h.size());
}

uint32_t Crc32(absl::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : data) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

void PutLe32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

TarEntry TarFile(std::string path, std::string content, uint32_t mode) {
  TarEntry entry;
  entry.path = std::move(path);
  entry.content = std::move(content);
  entry.mode = mode;
  return entry;
}

TarEntry TarDirectory(std::string path) {
  TarEntry entry;
  entry.path = std::move(path);
  entry.type = TarEntry::Type::kDirectory;
  entry.mode = 0755;
  return entry;
}

std::string MakeTar(const std::vector<TarEntry>& entries) {
  std::string out;
  for (const TarEntry& entry : entries) {
    bool file = entry.type == TarEntry::Type::kFile;
    uint64_t size = file ? entry.content.size() : 0;
    out += TarHeader(entry, size);
    if (!file) continue;
    out += entry.content;
    out.append((kTarBlock - size % kTarBlock) % kTarBlock, '\0');
  }
  out.append(2 * kTarBlock, '\0');
  return out;
}

std::string MakeTar(const std::map<std::string, std::string>& files) {
  std::vector<TarEntry> entries;
  entries.reserve(files.size());
  for (const auto& [name, content] : files) entries.push_back(TarFile(name, content));
  return MakeTar(entries);
}

std::string GzipStored(absl::string_view data) {
  // RFC 1952 header: magic, CM=deflate, no flags, mtime 0, XFL 0, OS 255.
  std::string out("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  size_t pos = 0;
  do {
    size_t n = std::min(kMaxStoredBlock, data.size() - pos);
    bool last = pos + n == data.size();
    // RFC 1951 stored block: BFINAL bit, BTYPE=00, then byte-aligned
    // LEN and NLEN (little endian) and the raw bytes.
    out.push_back(last ? '\x01' : '\x00');
    uint16_t len = static_cast<uint16_t>(n);
    uint16_t nlen = static_cast<uint16_t>(~len);
    out.push_back(static_cast<char>(len & 0xFF));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(nlen & 0xFF));
    out.push_back(static_cast<char>(nlen >> 8));
    out.append(data.data() + pos, n);
    pos += n;
  } while (pos < data.size());
  PutLe32(out, Crc32(data));
  PutLe32(out, static_cast<uint32_t>(data.size() & 0xFFFFFFFFu));
  return out;
}

}  // namespace crimirror::testbed
