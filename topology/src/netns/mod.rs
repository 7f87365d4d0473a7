//! Bringing a topology up in Linux network namespaces (see `docs/namespaces.md`).
