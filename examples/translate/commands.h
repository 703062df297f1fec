#pragma once
// The subcommands of build/bin/translate; each registers itself on the CLI11 app and runs
// from its callback.
#include <CLI/CLI.hpp>

namespace translate_cli {

// Thrown by a command to end the program with this status (a training run stopped by SIGINT
// exits 130, by SIGTERM 143, as the shell expects of an interrupted program).
struct ExitStatus {
  int code;
};

void add_demo(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_translate(CLI::App& app);
void add_attention(CLI::App& app);
void add_average(CLI::App& app);

}  // namespace translate_cli
