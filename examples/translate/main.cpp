// build/bin/translate: train, evaluate and use glassgrad translators from the command line.
//
//   translate demo [--task dates]                 train on a generated task, show results (no data needed)
//   translate train --data spa.txt --src-col 2 --tgt-col 1 --out runs/spa-eng [options]
//   translate eval --model runs/spa-eng [--beam 5]
//   translate translate --model runs/spa-eng [--beam 5] [--batch-size 32] [--nbest 5] [--output FILE] < sentences.txt
//   translate attention --model runs/spa-eng --sentence "¿Dónde está?" --png where.png
//   translate average --model runs/spa-eng --last 3 --out runs/spa-eng-avg   the mean of the last checkpoints
//   mpirun -np 2 translate train ...              data-parallel training: every rank takes part of each batch
//
// Every command has --help. Errors print one line and exit with status 1.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include "commands.h"
#include "dist/comm.h"

namespace {
// Under mpirun: an error on one rank ends every rank at once (a rank that stops talking would
// leave the others waiting in a collective), naming the rank that failed.
int fail(const std::string& message) {
  if (gg::dist::world_size() == 1) {
    fmt::print(stderr, "translate: error: {}\n", message);
    return 1;
  }
  fmt::print(stderr, "translate: error on rank {} of {}: {}\n", gg::dist::rank(), gg::dist::world_size(), message);
  std::fflush(stderr);
  gg::dist::abort(1);
}
}  // namespace

int main(int argc, char** argv) {
  try {
    gg::dist::init();  // joins mpirun's other processes, if it started this one
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (gg::dist::rank() != 0) {  // every rank would print the same lines: only rank 0's are shown
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, STDOUT_FILENO), ::close(null);
  }
  CLI::App app{"glassgrad translate: train, evaluate and use sequence-to-sequence translators"};
  app.require_subcommand(1);
  translate_cli::add_demo(app);
  translate_cli::add_train(app);
  translate_cli::add_eval(app);
  translate_cli::add_translate(app);
  translate_cli::add_attention(app);
  translate_cli::add_average(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    if (status != 0 && gg::dist::world_size() > 1) gg::dist::abort(status);  // the other ranks would wait for this one
    return status;
  } catch (const translate_cli::ExitStatus& e) {
    return e.code;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return 0;
}
