//! Reading and validating topology files (see `docs/topology.md`).
