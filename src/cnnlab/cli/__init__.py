"""The `cnnlab` command line: a thin layer over the library."""
