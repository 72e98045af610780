"""`pip install .` for the attnscope Python module.

Why CMake driven from setup.py (and not a setuptools Extension): the module is built by
python/CMakeLists.txt, the same description the tests use (ATTNSCOPE_PYTHON=ON, target
attnscope::python), which finds the library's dependencies (xtensor, xsimd, Eigen, nlohmann_json,
zlib, pybind11, dlpack) as every other attnscope target does; a setuptools Extension would repeat
those include paths and flags and drift. scikit-build is not a Debian package, so this small
build_ext runs cmake itself. The `attnscope` command is built by the same configure and shipped in
the package (attnscope/bin/attnscope) for attnscope.report().

Offline, with Debian's setuptools, wheel and pybind11 (python3-setuptools, python3-wheel,
pybind11-dev, libdlpack-dev, cmake, g++):
    python3 -m venv --system-site-packages /tmp/v
    /tmp/v/bin/pip install --no-build-isolation --no-index .
Environment: ATTNSCOPE_CMAKE_ARGS (extra cmake arguments, e.g. "-DCMAKE_CXX_FLAGS=-march=native"),
ATTNSCOPE_JOBS (parallel build jobs, default 2).
"""
import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        root = os.path.abspath(os.path.dirname(__file__))
        build = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        target = os.path.abspath(self.get_ext_fullpath(ext.name))
        package = os.path.dirname(target)
        configure = [
            "cmake", "-S", root, "-B", build,
            "-DCMAKE_BUILD_TYPE=Release",
            "-DATTNSCOPE_PYTHON=ON", "-DATTNSCOPE_BUILD_TOOLS=ON",
            "-DATTNSCOPE_BUILD_TESTS=OFF", "-DATTNSCOPE_BUILD_EXAMPLES=OFF", "-DATTNSCOPE_BUILD_BENCHMARKS=OFF",
            "-DATTNSCOPE_INSTALL=OFF",
            f"-DPython_EXECUTABLE={sys.executable}",
        ] + shlex.split(os.environ.get("ATTNSCOPE_CMAKE_ARGS", ""))
        subprocess.check_call(configure)
        jobs = os.environ.get("ATTNSCOPE_JOBS", "2")
        subprocess.check_call(["cmake", "--build", build, "--target", "attnscope_python", "attnscope_cli", "-j", jobs])
        built = os.path.join(build, "python", "package", "attnscope")
        core = [f for f in os.listdir(built) if f.startswith("_core") and f.endswith(".so")]
        if len(core) != 1:
            raise RuntimeError(f"expected one _core extension in {built}, found {core}")
        os.makedirs(package, exist_ok=True)
        shutil.copyfile(os.path.join(built, core[0]), target)
        os.makedirs(os.path.join(package, "bin"), exist_ok=True)
        command = os.path.join(package, "bin", "attnscope")
        shutil.copyfile(os.path.join(build, "src", "attnscope"), command)
        os.chmod(command, 0o755)


setup(
    packages=["attnscope"],
    package_dir={"attnscope": "python/attnscope"},
    package_data={"attnscope": ["*.pyi", "py.typed"]},
    ext_modules=[CMakeExtension("attnscope._core")],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
