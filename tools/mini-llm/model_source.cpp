#include "model_source.h"

#include <unistd.h>

#include <cstdio>
#include <vector>

#include "hub_pull.h"
#include "minillm/error.h"
#include "progress.h"

namespace minillm::cli {
namespace fs = std::filesystem;

void add_model_options(CLI::App& cmd, ModelFlags& flags, bool positional) {
  cmd.add_option(positional ? "model,-m,--model" : "-m,--model", flags.model,
                 "Model: a .gguf file, a Hugging Face folder or hf://USER/REPO[:QUANT] "
                 "(default: the bundled demo model)");
  cmd.add_option("--hf-repo", flags.hf_repo,
                 "Hugging Face model USER/REPO[:QUANT], downloaded into the Hub cache (also -hf)");
}

fs::path demo_model_path() {
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    candidates.push_back(self.parent_path().parent_path() / "share/minillm/stories260K.gguf");
  candidates.push_back(MINILLM_DEMO_MODEL_INSTALLED);
  candidates.push_back(MINILLM_DEMO_MODEL_SOURCE);
  for (const fs::path& p : candidates)
    if (fs::is_regular_file(p, ec)) return p;
  throw Error("no model given (-m) and the bundled demo model is not at " +
              candidates.back().string() + " or " + candidates[candidates.size() - 2].string());
}

fs::path pull_model(const std::string& text) {
  const hub::ModelRef ref = hub::parse_model_ref(text);
  const hub::PullOptions options = hub::PullOptions::from_environment();
  std::unique_ptr<ProgressBar> bar;
  std::string current;
  const auto result = hub::pull(ref, options, [&](const hub::Progress& p) {
    if (p.from_cache) return;
    if (!bar || current != p.file) {
      current = p.file;
      bar = std::make_unique<ProgressBar>(p.file, p.total, ProgressBar::Unit::Bytes, false);
    }
    bar->update(p.done);
    if (p.finished) {
      char line[512];
      std::snprintf(line, sizeof line, "downloaded %s/%s (%.1f MB%s)", ref.repo.c_str(),
                    p.file.c_str(), double(p.total) / (1 << 20), p.resumed_at ? ", resumed" : "");
      bar->finish(line);
      bar.reset();
    }
  });
  if (result.offline)
    std::fprintf(stderr, "using the cached copy of %s (%s)\n", ref.repo.c_str(),
                 result.commit.substr(0, 12).c_str());
  return result.path;
}

std::optional<fs::path> resolve_model_if_given(const ModelFlags& flags) {
  if (!flags.model.empty() && !flags.hf_repo.empty())
    throw Error("give either -m or -hf, not both");
  if (!flags.hf_repo.empty()) return pull_model(flags.hf_repo);
  if (hub::is_hub_uri(flags.model)) return pull_model(flags.model);
  if (!flags.model.empty()) return fs::path(flags.model);
  return std::nullopt;
}

fs::path resolve_model(const ModelFlags& flags) {
  if (auto given = resolve_model_if_given(flags)) return *given;
  const fs::path demo = demo_model_path();
  std::fprintf(stderr, "no model given (-m): using the bundled demo model %s\n", demo.c_str());
  return demo;
}

std::shared_ptr<const Model> load_model(const fs::path& path, LoadOptions options) {
  std::unique_ptr<ProgressBar> bar;
  if (ProgressBar::stderr_is_terminal()) {
    // One bar per pass over the weights (quantizing, then moving or packing).
    options.progress = [&, total_now = size_t(0)](size_t done, size_t total) mutable {
      if (!bar || total != total_now) {
        total_now = total;
        bar = std::make_unique<ProgressBar>("loading", total, ProgressBar::Unit::Items, false);
      }
      bar->update(done);
    };
  }
  auto model = Model::load(path, options);
  if (bar) bar->finish("");
  return model;
}

std::vector<std::string> spell_long_options(int argc, char** argv) {
  static const std::pair<std::string, std::string> spellings[] = {{"-hf", "--hf-repo"},
                                                                  {"-np", "--parallel"}};
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") break;
    for (const auto& [short_name, long_name] : spellings) {
      if (args[i] == short_name)
        args[i] = long_name;
      else if (args[i].rfind(short_name + "=", 0) == 0)
        args[i] = long_name + "=" + args[i].substr(short_name.size() + 1);
    }
  }
  return args;
}

}  // namespace minillm::cli
