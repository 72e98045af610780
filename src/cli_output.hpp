// src/cli_output.hpp - an output directory that appears complete or not at all.
//
// The report is written into a hidden staging directory next to the target (same filesystem, so
// the final rename is atomic). commit() renames it into place; an existing target is refused
// unless replacement was asked for, and is then swapped atomically (renameat2 RENAME_EXCHANGE)
// before the old contents are deleted. Destroying an uncommitted staging_dir deletes it, so an
// error at any point leaves nothing behind.
#pragma once

#include <attnscope/error.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli_errors.hpp"

namespace attnscope::cli {

namespace fs = std::filesystem;

/// A staging directory that becomes `target` on commit().
///   staging_dir out("report", /*replace=*/false);   // throws if "report" exists
///   write(out.path() / "summary.json");
///   out.commit();
class staging_dir {
public:
    staging_dir(fs::path target, bool replace) : target_(std::move(target)), replace_(replace) {
        if (target_.empty()) throw command_error("output directory: empty path");
        while (target_.has_filename() == false && target_.has_parent_path() && target_ != target_.root_path())
            target_ = target_.parent_path(); // "out/" -> "out"
        if (target_.filename() == "." || target_.filename() == ".." || target_ == target_.root_path())
            throw command_error(detail::concat("output directory '", target_.string(), "': name a new directory, not '",
                                                target_.filename().string(), "'"));
        std::error_code ec;
        const auto st = fs::symlink_status(target_, ec);
        if (fs::exists(st)) {
            if (!fs::is_directory(st))
                throw command_error(detail::concat("output directory '", target_.string(), "' exists and is not a directory"));
            if (!replace_)
                throw command_error(detail::concat("output directory '", target_.string(),
                                              "' already exists (use --force to replace it)"));
        }
        const fs::path parent = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
        create_parents(parent);
        std::string tmpl = (parent / ("." + target_.filename().string() + ".tmp.XXXXXX")).string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            const int e = errno;
            remove_created_parents();
            errno = e;
            throw command_error(detail::concat("output directory '", target_.string(), "': cannot create a staging directory in '",
                                          parent.string(), "': ", std::strerror(errno)));
        }
        path_ = tmpl;
    }
    staging_dir(const staging_dir&) = delete;
    staging_dir& operator=(const staging_dir&) = delete;
    ~staging_dir() { discard(); }

    /// Where to write the files (the hidden staging directory until commit()).
    const fs::path& path() const noexcept { return path_; }
    const fs::path& target() const noexcept { return target_; }

    /// Moves the staging directory into place (atomically replacing an existing target if allowed).
    void commit() {
        if (path_.empty()) throw command_error("output directory: commit after discard");
        ::chmod(path_.c_str(), 0755); // mkdtemp creates 0700; a report is meant to be shared
        if (::rename(path_.c_str(), target_.c_str()) == 0) {
            path_.clear();
            committed_ = true;
            return;
        }
        const int e = errno;
        if ((e != EEXIST && e != ENOTEMPTY) || !replace_)
            throw command_error(detail::concat("output directory '", target_.string(), "': cannot move the report into place: ",
                                          e == EEXIST || e == ENOTEMPTY ? "it appeared meanwhile (use --force to replace it)"
                                                                        : std::strerror(e)));
        // Swap the complete new report with the old directory in one step, then delete the old one.
        if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0)
            throw command_error(detail::concat("output directory '", target_.string(), "': cannot replace it: ", std::strerror(errno)));
        // path_ now holds the old contents; the destructor removes them.
        committed_ = true;
        discard();
    }

    /// Removes the staging directory and everything in it, and the parent directories this object
    /// created unless the report was committed (idempotent, never throws).
    void discard() noexcept {
        if (!path_.empty()) {
            std::error_code ec;
            for (int attempt = 0; attempt < 3; ++attempt) { // a writer thread may still be finishing a file
                fs::remove_all(path_, ec);
                if (!fs::exists(path_, ec)) break;
            }
            path_.clear();
        }
        if (!committed_) remove_created_parents();
    }

    bool committed() const noexcept { return committed_; }

    /// Runs f(), which writes into path(): a library error about a file in there (error::where())
    /// becomes the command's line naming the file in the output directory, "output directory
    /// 'OUT': NAME: PROBLEM" (the staging name means nothing to the user); others pass unchanged.
    template <class F>
    decltype(auto) writing(F&& f) const {
        try {
            return f();
        } catch (const command_error&) {
            throw;
        } catch (const error& e) {
            const auto& w = e.where();
            const std::string dir = path_.string() + "/";
            if (!w || path_.empty() || w->file.rfind(dir, 0) != 0) throw;
            throw command_error(detail::concat("output directory '", target_.string(), "': ", w->file.substr(dir.size()), ": ",
                                               w->field.empty() ? "" : w->field + ": ", w->problem));
        }
    }

private:
    // Missing parent directories are created (like mkdir -p) and removed again if nothing is committed.
    void create_parents(const fs::path& parent) {
        std::error_code ec;
        std::vector<fs::path> missing;
        for (fs::path p = parent; !p.empty() && !fs::exists(fs::symlink_status(p, ec)); p = p.parent_path()) {
            missing.push_back(p);
            if (p == p.parent_path()) break;
        }
        for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
            if (!fs::create_directory(*it, ec) && ec) {
                remove_created_parents();
                throw command_error(detail::concat("output directory '", target_.string(), "': cannot create '", it->string(),
                                              "': ", ec.message()));
            }
            created_parents_.push_back(*it);
        }
        if (!fs::is_directory(parent, ec))
            throw command_error(detail::concat("output directory '", target_.string(), "': '", parent.string(), "' is not a directory"));
    }
    void remove_created_parents() noexcept {
        std::error_code ec;
        for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) fs::remove(*it, ec); // only if empty
        created_parents_.clear();
    }

    std::vector<fs::path> created_parents_;
    fs::path target_;
    fs::path path_;
    bool replace_ = false;
    bool committed_ = false;
};

/// The files a command writes into its output directory, in the order written (for summary.json
/// and the account on stdout).
///   file_list files{out.path()};
///   as::io::write_npy(files.add("entropy.npy"), rows);
struct file_list {
    fs::path dir;
    std::vector<std::string> names; ///< relative to dir

    /// Records `name` and returns its path in the directory.
    fs::path add(const std::string& name) {
        names.push_back(name);
        return dir / name;
    }
};

} // namespace attnscope::cli
