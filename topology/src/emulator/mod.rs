//! The in-process, virtual-time network emulator (see `docs/emulator.md`).
