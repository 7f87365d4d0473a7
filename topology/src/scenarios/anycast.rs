//! The anycast scenario.
