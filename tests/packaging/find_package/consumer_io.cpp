// attnscope::io: core plus the file formats (here an .npy written and read back).
#include <attnscope/io/npy.hpp>

#include <cstdio>
#include <filesystem>

int main() {
    namespace as = attnscope;
    const auto path = std::filesystem::temp_directory_path() / "attnscope_packaging_io.npy";
    const xt::xarray<double> values = {{0.25, 0.5}, {0.75, 1.0}};
    as::io::write_npy(path, values);
    const auto back = as::io::load_npy(path);
    std::filesystem::remove(path);
    const bool ok = back.shape().size() == 2 && back.shape()[0] == 2 && back.shape()[1] == 2;
    std::printf("io: npy round trip %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
