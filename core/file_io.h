#pragma once
// Files that survive a crash. Everything glassgrad saves goes through write_file_atomic:
//
//   write PATH.tmp.PID -> fsync it -> rename it over PATH -> fsync PATH's directory
//
// so at every instant PATH holds either the old contents or the new, never a mix, and once the
// call returns the new contents are on disk (the directory's fsync makes the rename itself
// durable). A set of files that must change together (a training checkpoint) is written into a
// fresh directory the same way and published with one rename of that directory
// (publish_directory).
//
// Test seam: set_write_fault makes the Nth write fail with an errno, as a full disk would, so
// tests can check that a failed save leaves the previous files intact. For tests that kill a
// whole process, the environment variable GG_KILL_AT_WRITE=N sends SIGKILL to the process in
// the middle of its Nth file write (half the bytes written, nothing renamed yet).
#include <cstdint>
#include <functional>
#include <string>

namespace gg {

void write_file_atomic(const std::string& path, const std::string& contents);

// The whole file as bytes; an error naming the file when it cannot be read.
std::string read_file(const std::string& path);

// fsync of a directory: makes the creation, rename or removal of its entries durable.
void fsync_directory(const std::string& dir);

// Renames the finished directory `tmp_dir` to `dir` (which must not exist) and makes it durable.
void publish_directory(const std::string& tmp_dir, const std::string& dir);

// SHA-256 of bytes, as 64 lowercase hex digits (OpenSSL's libcrypto).
std::string sha256_hex(const std::string& bytes);

// Holds DIR/.lock (flock) while it lives, so that two processes never write into one directory
// at once (two trainers in one model directory would delete each other's checkpoints): a second
// process gets an error naming the directory. The kernel drops the lock when the process ends,
// however it ends, so a killed run never leaves the directory locked.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

// Test seam: `fault(path)` is called before each file write; a nonzero return is the errno the
// write fails with. An empty function removes the seam.
void set_write_fault(std::function<int(const std::string& path)> fault);

}  // namespace gg
