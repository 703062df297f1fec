#pragma once
// Running build/bin/translate as a user does, for the tests that kill, interrupt and resume it:
// a child process with its own standard input, output and error, and a signal sent to it after
// a delay if the test asks.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/file_io.h"
#include "data/toy.h"
#include "testing.h"

namespace cli {

struct RunOptions {
  std::string input = {};                       // standard input
  std::map<std::string, std::string> env = {};  // set in the child, on top of this environment
  double signal_after_seconds = -1;        // >= 0: send `signal` after this long
  int signal = SIGKILL;
};

struct RunResult {
  int status = -1;  // the exit status, or 128 + the signal that ended the process, as a shell reports it
  std::string out, err;
};

// A fresh directory for one test (testing.h's scratch_dir).
inline std::filesystem::path scratch(const std::string& name) { return gg::testing::scratch_dir(name); }

// `count` generated date pairs as DIR/data.tsv: no external data.
inline std::string write_dates_tsv(const std::filesystem::path& dir, int64_t count) {
  std::string tsv;
  for (const auto& p : gg::data::toy_task("dates").generate(count, 3)) tsv += p.src + "\t" + p.tgt + "\n";
  const std::string path = (dir / "data.tsv").string();
  std::ofstream(path) << tsv;
  return path;
}

// A child started by spawn(), and where its output goes; wait() collects it.
struct Spawned {
  pid_t pid = -1;
  std::string out_path, err_path;
};

inline Spawned spawn(const std::string& program, const std::vector<std::string>& args, const RunOptions& o = {}) {
  static int count = 0;
  const std::filesystem::path scratch = gg::testing::scratch_dir("run-" + std::to_string(count++));
  const std::string in_path = (scratch / "in").string();
  Spawned child{.out_path = (scratch / "out").string(), .err_path = (scratch / "err").string()};
  std::ofstream(in_path, std::ios::binary) << o.input;
  child.pid = ::fork();
  if (child.pid == 0) {
    ::dup2(::open(in_path.c_str(), O_RDONLY), STDIN_FILENO);
    ::dup2(::open(child.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDOUT_FILENO);
    ::dup2(::open(child.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDERR_FILENO);
    for (const auto& [k, v] : o.env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv{const_cast<char*>(program.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  return child;
}

inline RunResult wait(const Spawned& child) {
  int wstatus = 0;
  ::waitpid(child.pid, &wstatus, 0);
  RunResult r;
  r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  r.out = gg::read_file(child.out_path);
  r.err = gg::read_file(child.err_path);
  return r;
}

inline RunResult run(const std::string& program, const std::vector<std::string>& args, const RunOptions& o = {}) {
  const Spawned child = spawn(program, args, o);
  if (o.signal_after_seconds >= 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(o.signal_after_seconds));
    ::kill(child.pid, o.signal);  // harmless if it has already exited: it stays a zombie until waited for
  }
  return wait(child);
}

#ifdef GG_TRANSLATE_BIN
// build/bin/translate on one thread: the same arithmetic in every run, so runs compare bit for bit.
inline RunResult translate(const std::vector<std::string>& args, RunOptions o = {}) {
  o.env.emplace("OMP_NUM_THREADS", "1");
  return run(GG_TRANSLATE_BIN, args, o);
}
#endif

}  // namespace cli
