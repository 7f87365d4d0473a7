//! The congestion scenario.
