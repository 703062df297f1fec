// build/bin/translate: train, evaluate and use glassgrad translators from the command line.
//
//   translate demo [--task dates]                 train on a generated task, show results (no data needed)
//   translate train --data spa.txt --src-col 2 --tgt-col 1 --out runs/spa-eng [options]
//   translate eval --model runs/spa-eng [--beam 5]
//   translate translate --model runs/spa-eng [--beam 5] [--batch-size 32] [--nbest 5] [--output FILE] < sentences.txt
//   translate attention --model runs/spa-eng --sentence "¿Dónde está?" --png where.png
//   translate average --model runs/spa-eng --last 3 --out runs/spa-eng-avg   the mean of the last checkpoints
//
// Every command has --help. Errors print one line and exit with status 1.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "commands.h"

int main(int argc, char** argv) {
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
    return app.exit(e);
  } catch (const translate_cli::ExitStatus& e) {
    return e.code;
  } catch (const std::exception& e) {
    fmt::print(stderr, "translate: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
