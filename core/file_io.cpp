#include "core/file_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace gg {
namespace {

namespace fs = std::filesystem;

std::function<int(const std::string&)>& write_fault() {
  static std::function<int(const std::string&)> fault;
  return fault;
}

// GG_KILL_AT_WRITE=N: the process dies in the middle of its Nth write (0: never).
int64_t kill_at_write() {
  static const int64_t n = [] {
    const char* s = std::getenv("GG_KILL_AT_WRITE");
    return s ? std::atoll(s) : 0;
  }();
  return n;
}

std::atomic<int64_t> writes_so_far{0};

// "ENOSPC (No space left on device)": the symbol a user can search for, and its meaning.
std::string describe_errno(int err) {
  const char* name = strerrorname_np(err);
  return fmt::format("{} ({})", name ? name : std::to_string(err), std::strerror(err));
}

std::string directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int err = write_fault() ? write_fault()(path) : 0;
  const int fd = err ? -1 : ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 && !err) err = errno;
  const bool die_here = fd >= 0 && ++writes_so_far == kill_at_write();
  const size_t goal = die_here ? contents.size() / 2 : contents.size();
  for (size_t written = 0; fd >= 0 && !err && written < goal;) {
    const ssize_t n = ::write(fd, contents.data() + written, goal - written);
    if (n >= 0) written += static_cast<size_t>(n);
    else if (errno != EINTR) err = errno;
  }
  if (die_here) ::raise(SIGKILL);  // a crash with half a file written under the temporary name
  if (fd >= 0 && !err && ::fsync(fd) != 0) err = errno;
  if (fd >= 0 && ::close(fd) != 0 && !err) err = errno;
  if (!err && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    fail("cannot save {}: {}; the previous {}, if any, is untouched", path, describe_errno(err),
         fs::path(path).filename().string());
  }
  fsync_directory(directory_of(path));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GG_CHECK(in.good(), "cannot read {}: {}", path, describe_errno(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  GG_CHECK(!in.bad(), "reading {} failed", path);
  return buffer.str();
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  GG_CHECK(fd >= 0, "cannot open the directory {}: {}", dir, describe_errno(errno));
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  GG_CHECK(err == 0, "cannot flush the directory {} to disk: {}", dir, describe_errno(err));
}

void publish_directory(const std::string& tmp_dir, const std::string& dir) {
  GG_CHECK(!fs::exists(dir), "cannot publish {}: it already exists", dir);
  fsync_directory(tmp_dir);
  if (std::rename(tmp_dir.c_str(), dir.c_str()) != 0)
    fail("cannot rename {} to {}: {}", tmp_dir, dir, describe_errno(errno));
  fsync_directory(directory_of(dir));
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  GG_CHECK(EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) == 1,
           "sha256: OpenSSL's EVP_Digest failed");
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

DirectoryLock::DirectoryLock(const std::string& dir) {
  const std::string path = dir + "/.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  GG_CHECK(fd_ >= 0, "cannot create {}: {}", path, describe_errno(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    GG_CHECK(err != EWOULDBLOCK, "{} is in use by another process (it holds {}); wait for it to finish, or stop it",
             dir, path);
    fail("cannot lock {}: {}", path, describe_errno(err));
  }
}

DirectoryLock::~DirectoryLock() { ::close(fd_); }  // closing the file releases the lock

void set_write_fault(std::function<int(const std::string& path)> fault) { write_fault() = std::move(fault); }

}  // namespace gg
