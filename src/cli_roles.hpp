// src/cli_roles.hpp - the head roles that need the prompt's tokens: duplicate-token and induction
// scores per example (TransformerLens's detectors, attnscope/reduce/heads.hpp), for the report's
// grids, summary and page. (Previous-token and self scores need no tokens: they are row metrics.)
#pragma once

#include <attnscope/reduce/aggregate.hpp>
#include <attnscope/reduce/heads.hpp>
#include <attnscope/view.hpp>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace attnscope::cli {

/// One token-based role: its name (file stem head_<name>), definition, per-example scores
/// [example, layer, head] and their mean over the examples where defined [layer, head].
struct role_grid {
    std::string name;
    std::string definition;
    labeled_array per_example;
    labeled_array pooled;
};

/// Token ids [B, T] (row-major) for the detectors: the tokens file's ids when it has them, else the
/// token strings interned (equal strings, equal ids). One list serves every example; positions
/// past a list's end get ids that match no other position.
inline std::vector<std::int64_t> detector_token_ids(const std::vector<std::vector<std::int64_t>>& ids,
                                                    const std::vector<std::vector<std::string>>& tokens, index_t B, index_t T) {
    std::vector<std::int64_t> out(static_cast<std::size_t>(B * T));
    std::map<std::string, std::int64_t> interned;
    std::int64_t unique = -1; // negative ids never equal a real one, nor each other
    for (index_t b = 0; b < B; ++b)
        for (index_t t = 0; t < T; ++t) {
            auto& dst = out[static_cast<std::size_t>(b * T + t)];
            const auto pick = [&](const auto& lists) { return &lists[lists.size() > 1 ? static_cast<std::size_t>(b) : 0]; };
            if (!ids.empty() && static_cast<index_t>(pick(ids)->size()) > t) {
                dst = (*pick(ids))[static_cast<std::size_t>(t)];
            } else if (ids.empty() && !tokens.empty() && static_cast<index_t>(pick(tokens)->size()) > t) {
                const auto& s = (*pick(tokens))[static_cast<std::size_t>(t)];
                dst = interned.emplace(s, static_cast<std::int64_t>(interned.size())).first->second;
            } else {
                dst = unique--;
            }
        }
    return out;
}

/// Why the token-based roles cannot be scored on this view ("" when they can): the detectors need
/// tokens and square self-attention over whole prompts (query and key positions the same).
template <class V>
std::string token_role_obstacle(const V& v, bool have_tokens, index_t past) {
    if (!have_tokens) return "no --tokens file";
    if (v.extent(axis::query) != v.extent(axis::key)) return "queries and keys differ in number (not self-attention over a whole prompt)";
    if (past != 0) return "--past is not 0 (the queries are not the whole prompt)";
    return {};
}

/// [batch, layer, head] form of a detector result (absent axes get extent 1).
inline labeled_array as_example_layer_head(const labeled_array& s, index_t B, index_t L, index_t H) {
    labeled_array r;
    r.values = s.values;
    r.values.reshape({static_cast<std::size_t>(B), static_cast<std::size_t>(L), static_cast<std::size_t>(H)});
    r.axes = {{"example", {}},
              {"layer", default_ticks(axis::layer, static_cast<std::size_t>(L))},
              {"head", default_ticks(axis::head, static_cast<std::size_t>(H))}};
    r.quantity = s.quantity;
    r.unit = "";
    return r;
}

/// Duplicate-token and induction scores ("mul" measure) of every example and head; `ids` is [B, T]
/// as detector_token_ids gives it.
template <row_source V>
std::vector<role_grid> token_role_grids(const V& v, std::span<const std::int64_t> ids) {
    const index_t B = v.extent(axis::batch), L = v.extent(axis::layer), H = v.extent(axis::head);
    std::vector<role_grid> out;
    for (const auto kind : {head_pattern::duplicate_token, head_pattern::induction}) {
        role_grid g;
        g.name = std::string(to_string(kind));
        g.definition = kind == head_pattern::duplicate_token
                           ? "share of each row's weight on earlier copies of the query's token (TransformerLens duplicate-token score)"
                           : "share of each row's weight on the tokens that followed earlier copies of the query's token "
                             "(TransformerLens induction score)";
        g.per_example = as_example_layer_head(head_detection_scores(v, ids, kind), B, L, H);
        g.per_example.quantity = g.name + " score";
        g.pooled = mean(g.per_example, "example");
        g.pooled.quantity = "mean " + g.per_example.quantity;
        g.pooled.unit = "";
        out.push_back(std::move(g));
    }
    return out;
}

} // namespace attnscope::cli
