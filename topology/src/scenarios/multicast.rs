//! The multicast scenario.
