#!/bin/bash -eu
# ClusterFuzzLite build script, following
# https://google.github.io/clusterfuzzlite/build-integration/#buildsh
# The builder runs it as $SRC/build.sh inside the image of .clusterfuzzlite/Dockerfile,
# with CC, CXX, CFLAGS, CXXFLAGS, LIB_FUZZING_ENGINE, OUT and WORK set; the project's
# own script does the work (and is what ci/test's `oss-fuzz` step runs).
"$SRC/pfs-workbench/fuzz/oss-fuzz/build.sh"
