// What every rstmesh binary's command line shares, on top of CLI11: --version with the git
// commit, global flags accepted before or after the command, "did you mean" for a mistyped
// command or flag, and bash completion generated from the same definitions as --help.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace rstmesh {

// --version (prints "PROGRAM VERSION (commit C)") and flags of the top level accepted after
// a subcommand too; call before adding subcommands.
void StandardCommandLine(CLI::App& app, const std::string& program);

// The candidate closest to `word` by edit distance, or "" when none is close enough to be
// what was meant (at most a third of the word's length, and at most 3 edits).
std::string Closest(const std::string& word, const std::vector<std::string>& candidates);

// The message for a parse error: CLI11's, plus "did you mean 'run'?" when a command or a flag
// is unknown and one is close, plus where to find the usage.
std::string ParseErrorMessage(const CLI::App& app, const CLI::ParseError& error,
                              const std::vector<std::string>& args, const std::string& program);

// A bash completion script for `app`: commands in the first place, then each command's flags
// and the global ones; file names elsewhere. Install as
// share/bash-completion/completions/PROGRAM, or: source <(PROGRAM completion bash).
std::string BashCompletion(const CLI::App& app, const std::string& program);

}  // namespace rstmesh
