#include "grammar/grammar_check.h"

#include <algorithm>
#include <functional>

#include "minillm/error.h"

namespace minillm::grammar {
namespace {

// Runs `step` (which returns whether it changed anything) until nothing changes.
void fixpoint(const std::function<bool()>& step) {
  while (step()) {
  }
}

// Whether rule r has an alternative whose elements all satisfy `ok`.
bool some_alternative(const Grammar::Impl& g, const Rule& r,
                      const std::function<bool(const Element&)>& ok) {
  for (uint32_t pos : r.alternatives) {
    bool all = true;
    for (uint32_t p = pos; g.elements[p].kind != ElementKind::End && all; ++p)
      all = ok(g.elements[p]);
    if (all) return true;
  }
  return false;
}

std::vector<bool> rules_with(
    const Grammar::Impl& g,
    const std::function<bool(const Element&, const std::vector<bool>&)>& ok) {
  std::vector<bool> has(g.rules.size(), false);
  fixpoint([&] {
    bool changed = false;
    for (size_t r = 0; r < g.rules.size(); ++r) {
      if (has[r]) continue;
      if (some_alternative(g, g.rules[r], [&](const Element& e) { return ok(e, has); }))
        has[r] = changed = true;
    }
    return changed;
  });
  return has;
}

std::vector<bool> reachable_rules(const Grammar::Impl& g) {
  std::vector<bool> seen(g.rules.size(), false);
  std::vector<uint32_t> todo{g.root};
  seen[g.root] = true;
  while (!todo.empty()) {
    const Rule& r = g.rules[todo.back()];
    todo.pop_back();
    for (uint32_t pos : r.alternatives)
      for (uint32_t p = pos; g.elements[p].kind != ElementKind::End; ++p)
        if (g.elements[p].kind == ElementKind::Rule && !seen[g.elements[p].value]) {
          seen[g.elements[p].value] = true;
          todo.push_back(g.elements[p].value);
        }
  }
  return seen;
}

// Strongly connected components (Tarjan) of the "may start with" graph.
struct Components {
  std::vector<int> of;
  explicit Components(const std::vector<std::vector<uint32_t>>& edges) : of(edges.size(), -1) {
    std::vector<int> index(edges.size(), -1), low(edges.size(), 0);
    std::vector<uint32_t> stack;
    std::vector<bool> on_stack(edges.size(), false);
    int counter = 0, n_components = 0;
    // Iterative DFS: (node, next edge to look at).
    for (uint32_t start = 0; start < edges.size(); ++start) {
      if (index[start] >= 0) continue;
      std::vector<std::pair<uint32_t, size_t>> dfs{{start, 0}};
      index[start] = low[start] = counter++;
      stack.push_back(start);
      on_stack[start] = true;
      while (!dfs.empty()) {
        auto& [v, next] = dfs.back();
        if (next < edges[v].size()) {
          const uint32_t w = edges[v][next++];
          if (index[w] < 0) {
            index[w] = low[w] = counter++;
            stack.push_back(w);
            on_stack[w] = true;
            dfs.push_back({w, 0});
          } else if (on_stack[w]) {
            low[v] = std::min(low[v], index[w]);
          }
          continue;
        }
        if (low[v] == index[v]) {
          uint32_t w;
          do {
            w = stack.back();
            stack.pop_back();
            on_stack[w] = false;
            of[w] = n_components;
          } while (w != v);
          ++n_components;
        }
        const uint32_t done = v;
        dfs.pop_back();
        if (!dfs.empty()) low[dfs.back().first] = std::min(low[dfs.back().first], low[done]);
      }
    }
  }
};

}  // namespace

void check_grammar(const Grammar::Impl& g) {
  const auto reachable = reachable_rules(g);
  const auto productive = rules_with(g, [&](const Element& e, const std::vector<bool>& has) {
    if (e.kind == ElementKind::Chars) return !g.charsets[e.value].empty();
    return has[e.value];
  });
  // Name a rule that needs itself (the cause) rather than one that merely uses such a rule.
  auto refers_to_itself = [&](size_t r) {
    for (uint32_t pos : g.rules[r].alternatives)
      for (uint32_t p = pos; g.elements[p].kind != ElementKind::End; ++p)
        if (g.elements[p].kind == ElementKind::Rule && g.elements[p].value == r) return true;
    return false;
  };
  for (int pass = 0; pass < 2; ++pass)
    for (size_t r = 0; r < g.rules.size(); ++r)
      if (reachable[r] && !productive[r] && (pass == 1 || refers_to_itself(r)))
        throw Error("grammar: rule '" + g.rules[r].name +
                    "' can never finish (each of its alternatives needs itself again, or an "
                    "empty character class)");

  const auto nullable = rules_with(g, [&](const Element& e, const std::vector<bool>& has) {
    return e.kind == ElementKind::Rule && has[e.value];
  });
  // Edge r -> s when r may start with s. It is a "push" when text follows s in that alternative:
  // the matcher then keeps a return position on its stack, so a cycle through a push edge grows
  // the stack without reading anything (left recursion). Cycles of tail calls stay flat.
  std::vector<std::vector<uint32_t>> edges(g.rules.size());
  std::vector<std::pair<uint32_t, uint32_t>> push_edges;
  for (uint32_t r = 0; r < g.rules.size(); ++r) {
    for (uint32_t pos : g.rules[r].alternatives) {
      for (uint32_t p = pos; g.elements[p].kind == ElementKind::Rule; ++p) {
        const uint32_t s = g.elements[p].value;
        edges[r].push_back(s);
        if (g.elements[p + 1].kind != ElementKind::End) push_edges.push_back({r, s});
        if (!nullable[s]) break;
      }
    }
  }
  const Components components(edges);
  for (const auto& [r, s] : push_edges)
    if (reachable[r] && components.of[r] == components.of[s])
      throw Error("grammar: rule '" + g.rules[r].name +
                  "' is left-recursive (it can reach itself again before reading a character); "
                  "rewrite it with repetition, e.g. x ::= y (\"+\" y)*");
}

}  // namespace minillm::grammar
