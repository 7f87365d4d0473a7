//! The private_ip scenario.
