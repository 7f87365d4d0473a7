//! The reliable_multicast scenario.
