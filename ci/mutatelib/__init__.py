"""ci/mutate: mutation testing of the core/ C++ sources (see docs/mutation.md)."""
