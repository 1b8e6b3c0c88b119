#include "cli/command_line.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "telemetry/exposition.h"

namespace rstmesh {
namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::vector<std::string> CommandNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

// "--name" and "-n" for every flag of `app` (not its commands').
std::vector<std::string> FlagNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& l : option->get_lnames()) names.push_back("--" + l);
    for (const std::string& s : option->get_snames()) names.push_back("-" + s);
  }
  return names;
}

// The command chosen on the command line, or the top level when none was.
const CLI::App& Chosen(const CLI::App& app) {
  const CLI::App* at = &app;
  for (std::vector<CLI::App*> parsed = at->get_subcommands(); !parsed.empty();
       parsed = at->get_subcommands()) {
    at = parsed.front();
  }
  return *at;
}

// Whether the flag `arg` (as typed, maybe "--name=value") takes the next word as its value.
bool TakesValue(const CLI::App& app, const std::string& arg) {
  if (arg.find('=') != std::string::npos) return false;
  const CLI::Option* option = app.get_option_no_throw(arg);
  return option != nullptr && option->get_items_expected_min() > 0;
}

// The allowed values of a flag checked with CLI::IsMember ("TEXT:{table,json}").
std::vector<std::string> Choices(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  const size_t open = type.find('{'), close = type.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close < open) return {};
  return absl::StrSplit(type.substr(open + 1, close - open - 1), ',', absl::SkipEmpty());
}

}  // namespace

void StandardCommandLine(CLI::App& app, const std::string& program) {
  app.set_version_flag(
      "--version", [program] { return VersionLine(program); },
      "Print the version and the git commit it was built from, and exit");
  app.fallthrough();  // commands inherit it: global flags may follow the command
}

std::string Closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::min<size_t>(3, std::max<size_t>(1, word.size() / 3)) + 1;
  for (const std::string& candidate : candidates) {
    const size_t d = EditDistance(word, candidate);
    const bool prefix = word.size() >= 3 && candidate.rfind(word, 0) == 0;
    if (prefix && best_distance > 1) {
      best = candidate;
      best_distance = 1;
    } else if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

std::string ParseErrorMessage(const CLI::App& app, const CLI::ParseError& error,
                              const std::vector<std::string>& args, const std::string& program) {
  const std::string usage = app.get_subcommands([](const CLI::App*) { return true; }).empty()
                                ? absl::StrCat("Run '", program, " --help' for usage.")
                                : absl::StrCat("Run '", program, " --help' (or '", program,
                                               " COMMAND --help') for usage.");
  const std::vector<std::string> commands = CommandNames(app);
  const CLI::App& chosen = Chosen(app);
  // A word in the command's place that is no command.
  if (!commands.empty() && &chosen == &app) {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (arg.empty() || arg[0] == '-') {
        if (TakesValue(app, arg)) ++i;
        continue;
      }
      std::string message = absl::StrCat(program, ": unknown command '", arg, "'");
      if (std::string close = Closest(arg, commands); !close.empty()) {
        absl::StrAppend(&message, "; did you mean '", close, "'?");
      }
      return absl::StrCat(message, "\n  Commands: ", absl::StrJoin(commands, ", "), "\n", usage,
                          "\n");
    }
  }
  if (!commands.empty() && &chosen == &app &&
      std::string(error.what()).find("subcommand is required") != std::string::npos) {
    return absl::StrCat(program,
                        ": a command is required\n  Commands: ", absl::StrJoin(commands, ", "),
                        "\n", usage, "\n");
  }
  std::string message = absl::StrCat(program, ": ", error.what());
  // A flag that neither the command nor the top level knows.
  std::vector<std::string> flags = FlagNames(chosen);
  if (&chosen != &app) {
    for (const std::string& global : FlagNames(app)) flags.push_back(global);
  }
  for (const std::string& arg : args) {
    if (arg.size() < 2 || arg[0] != '-') continue;
    const std::string name = arg.substr(0, arg.find('='));
    if (std::find(flags.begin(), flags.end(), name) != flags.end()) continue;
    if (std::string close = Closest(name, flags); !close.empty()) {
      absl::StrAppend(&message, "\n  ", name, ": did you mean '", close, "'?");
    }
  }
  return absl::StrCat(message, "\n", usage, "\n");
}

std::string BashCompletion(const CLI::App& app, const std::string& program) {
  std::string function = "_" + program;
  std::replace(function.begin(), function.end(), '-', '_');
  const std::vector<std::string> commands = CommandNames(app);
  // The values of flags with a fixed set, by flag name (the same name may differ by command).
  auto choices = [](const CLI::App& at, std::string& out) {
    for (const CLI::Option* option : at.get_options()) {
      const std::vector<std::string> values = Choices(*option);
      if (values.empty()) continue;
      std::vector<std::string> names;
      for (const std::string& l : option->get_lnames()) names.push_back("--" + l);
      for (const std::string& s : option->get_snames()) names.push_back("-" + s);
      if (names.empty()) continue;  // a positional argument: `values` below
      absl::StrAppend(&out, "        ", absl::StrJoin(names, "|"), ") COMPREPLY=($(compgen -W \"",
                      absl::StrJoin(values, " "), "\" -- \"$cur\")); return ;;\n");
    }
  };
  const std::string globals = absl::StrJoin(FlagNames(app), " ");
  std::string out = absl::StrCat(
      "# bash completion for ", program, " (generated by '", program, " completion bash'; version ",
      BuildVersion(), ")\n", function, "() {\n",
      "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i\n",
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n", "    case \" ", absl::StrJoin(commands, " "),
      " \" in *\" ${COMP_WORDS[i]} \"*) cmd=${COMP_WORDS[i]}; break ;; esac\n", "  done\n",
      "  local flags=\"", globals, "\" values=\n", "  case $cmd in\n");
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    absl::StrAppend(&out, "    ", sub->get_name(), ")\n      case $prev in\n");
    choices(*sub, out);
    std::vector<std::string> values;  // of its positional arguments with a fixed set
    for (const CLI::Option* option : sub->get_options()) {
      if (option->get_lnames().empty() && option->get_snames().empty()) {
        for (const std::string& v : Choices(*option)) values.push_back(v);
      }
    }
    absl::StrAppend(
        &out, "      esac\n      flags=\"", absl::StrJoin(FlagNames(*sub), " "), " $flags\"",
        values.empty() ? "" : " values=\"" + absl::StrJoin(values, " ") + "\"", " ;;\n");
  }
  absl::StrAppend(&out, "    *)\n      case $prev in\n");
  choices(app, out);
  absl::StrAppend(&out, "      esac ;;\n  esac\n");
  absl::StrAppend(&out, "  if [[ $cur == -* ]]; then\n",
                  "    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n");
  if (!commands.empty()) {
    absl::StrAppend(&out, "  elif [[ -z $cmd ]]; then\n", "    COMPREPLY=($(compgen -W \"",
                    absl::StrJoin(commands, " "), "\" -- \"$cur\"))\n");
  }
  absl::StrAppend(&out, "  elif [[ -n $values ]]; then\n",
                  "    COMPREPLY=($(compgen -W \"$values\" -- \"$cur\"))\n", "  fi\n}\n",
                  "complete -o default -F ", function, " ", program, "\n");
  return out;
}

}  // namespace rstmesh
