// `mpirun -np N build/bin/translate train ...` as a user runs it: only rank 0 writes, a run
// saved by 2 ranks resumes on 1 and on 3, and a rank that dies or fails ends the whole run
// within seconds with a message naming it, leaving the last checkpoint intact.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/process.h"
#include "app/checkpoint.h"

namespace fs = std::filesystem;
using cli::RunResult;

namespace {

// What mpirun needs in a container: root, more ranks than cores, no ssh, no cross-memory attach.
const std::map<std::string, std::string> kMpiEnv = {
    {"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"},
    {"OMPI_MCA_rmaps_base_oversubscribe", "1"}, {"OMPI_MCA_plm", "isolated"},
    {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"}, {"OMPI_MCA_mpi_yield_when_idle", "1"},
    {"OMP_NUM_THREADS", "1"}};

std::vector<std::string> mpirun_args(int ranks, std::vector<std::string> args) {
  std::vector<std::string> all = {"-np", std::to_string(ranks), "--bind-to", "none", GG_TRANSLATE_BIN};
  all.insert(all.end(), args.begin(), args.end());
  return all;
}

cli::Spawned mpirun(int ranks, const std::vector<std::string>& args) {
  return cli::spawn(GG_MPIEXEC, mpirun_args(ranks, args), {.env = kMpiEnv});
}

RunResult translate(int ranks, const std::vector<std::string>& args) {
  if (ranks == 0) return cli::run(GG_TRANSLATE_BIN, args, {.env = {{"OMP_NUM_THREADS", "1"}}});  // no mpirun
  return cli::wait(mpirun(ranks, args));
}

std::vector<std::string> train_args(const std::string& data, const std::string& out, int epochs) {
  return {"train", "--data", data, "--out", out, "--split-mod", "10", "--epochs", std::to_string(epochs),
          "--batch-size", "16", "--embed", "8", "--hidden", "16", "--valid-bleu", "0"};
}

// The process mpirun started as rank `rank`: its child whose environment says so.
pid_t find_rank(pid_t mpirun_pid, int rank) {
  const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  DIR* proc = ::opendir("/proc");
  pid_t found = -1;
  while (dirent* e = ::readdir(proc)) {
    const pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 2));
    char state;
    pid_t parent = 0;
    rest >> state >> parent;
    if (parent != mpirun_pid) continue;
    const std::string env = gg::read_file("/proc/" + std::to_string(pid) + "/environ");
    for (size_t at = 0; at < env.size(); at = env.find('\0', at) + 1) {
      if (env.compare(at, want.size() + 1, want + '\0') == 0) found = pid;
      if (env.find('\0', at) == std::string::npos) break;
    }
  }
  ::closedir(proc);
  return found;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

int newest_step(const std::string& model) {
  const auto saved = gg::app::list_checkpoints(model);
  return saved.empty() ? -1 : static_cast<int>(gg::app::load_checkpoint(saved.back()).step);
}

}  // namespace

TEST_CASE("mpirun -np 2 translate train: one model directory, written by rank 0, resumed on 1 and on 3 ranks", "[dist]") {
  const fs::path dir = cli::scratch("dist-resume");
  const std::string data = cli::write_dates_tsv(dir, 300), model = (dir / "model").string();
  RunResult r = translate(2, train_args(data, model, 1));
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("data-parallel: 2 ranks, exact reduction") != std::string::npos);
  const int epoch = newest_step(model);  // steps per epoch: the global batch is --batch-size, whatever the ranks
  CHECK(epoch == 15);                    // 240 training pairs (--split-mod 10 of 300), 16 per step

  r = translate(0, train_args(data, model, 2) + std::vector<std::string>{"--resume"});  // one process, no mpirun
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("resuming from") != std::string::npos);
  CHECK(newest_step(model) == 2 * epoch);

  r = translate(3, train_args(data, model, 3) + std::vector<std::string>{"--resume", "--reduce", "fast"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("data-parallel: 3 ranks, fast reduction") != std::string::npos);
  CHECK(newest_step(model) == 3 * epoch);
  std::string epochs;  // metrics.jsonl holds each epoch once, across the three runs
  std::ifstream metrics(model + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);)
    if (line.find("valid_loss") != std::string::npos) epochs += line.substr(line.find("\"epoch\":") + 8, 1);
  CHECK(epochs == "123");
  CHECK(translate(0, {"translate", "--model", model}).status == 0);
}

TEST_CASE("a rank killed mid-step ends the run within seconds, naming it, and the last checkpoint is intact", "[dist]") {
  const fs::path dir = cli::scratch("dist-kill");
  const std::string data = cli::write_dates_tsv(dir, 3000), model = (dir / "model").string();
  const cli::Spawned job = mpirun(2, train_args(data, model, 50) + std::vector<std::string>{"--save-every", "20"});
  // Wait for a checkpoint after the first (training is under way), then kill rank 1.
  pid_t rank1 = -1;
  for (int i = 0; i < 600 && (rank1 < 0 || gg::app::list_checkpoints(model).size() < 2); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (rank1 < 0) rank1 = find_rank(job.pid, 1);
  }
  REQUIRE(rank1 > 0);
  const auto killed = std::chrono::steady_clock::now();
  ::kill(rank1, SIGKILL);
  const RunResult r = cli::wait(job);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  INFO(r.out << r.err);
  CHECK(r.status != 0);
  CHECK(seconds < 30);
  CHECK(r.err.find("rank 1") != std::string::npos);
  const auto saved = gg::app::list_checkpoints(model);
  REQUIRE(!saved.empty());
  const gg::app::Checkpoint last = gg::app::load_checkpoint(saved.back());  // verified against its manifest
  CHECK(last.step > 0);
  CHECK(last.step % 20 == 0);  // one of the --save-every saves, whole
  CHECK(!last.model.empty());
}

TEST_CASE("a rank that fails ends every rank with its error: here rank 1 built another model", "[dist]") {
  const fs::path dir = cli::scratch("dist-fail");
  const std::string data = cli::write_dates_tsv(dir, 300), model = (dir / "model").string();
  // mpirun's MPMD form: rank 0 and rank 1 run different command lines.
  auto other = train_args(data, model, 1);
  *(std::find(other.begin(), other.end(), "--hidden") + 1) = "24";
  const auto args = mpirun_args(1, train_args(data, model, 1)) + std::vector<std::string>{":", "-np", "1", GG_TRANSLATE_BIN} + other;
  const auto start = std::chrono::steady_clock::now();
  const RunResult r = cli::run(GG_MPIEXEC, args, {.env = kMpiEnv});
  INFO(r.out << r.err);
  CHECK(r.status != 0);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 60);
  CHECK(r.err.find("rank 1 has other parameters than rank 0") != std::string::npos);
}

TEST_CASE("a rank that rejects its command line ends every rank", "[dist]") {
  const fs::path dir = cli::scratch("dist-usage");
  const std::string data = cli::write_dates_tsv(dir, 300), model = (dir / "model").string();
  const auto args = mpirun_args(1, train_args(data, model, 1)) + std::vector<std::string>{":", "-np", "1", GG_TRANSLATE_BIN} +
                    train_args(data, model, 1) + std::vector<std::string>{"--epochs", "-1"};
  const auto start = std::chrono::steady_clock::now();
  const RunResult r = cli::run(GG_MPIEXEC, args, {.env = kMpiEnv});
  INFO(r.out << r.err);
  CHECK(r.status != 0);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 60);
  CHECK(r.err.find("--epochs") != std::string::npos);
}
