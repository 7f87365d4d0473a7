//! [`Mesh`]: an emulated network described node by node, by each node core's own
//! [`NodeConfig`], instead of by a topology file. Every two nodes are joined by a link: the one
//! given for the pair, else the default link. The node library's tests run on it, so that they
//! and the emulator share one virtual-time network.
//!
//! It only builds: the result is an ordinary [`Emulator`] (its nodes are active routers named
//! `n0`, `n1`, ... in the order they were added), and it never starts applications.

use std::net::IpAddr;
use std::time::Duration;

use ants_router::node::NodeConfig;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{LinkOptionsSet, LinkParams, NodeKind, TopologyBuilder};
use ants_topology::routes::Routes;

use crate::{Emulator, EmulatorError, EmulatorOptions};

/// A link with this one-way delay, lossless, of unlimited bandwidth, with a queue of a million
/// datagrams (a test's bandwidth then delays rather than drops).
pub fn link(delay: Duration) -> LinkParams {
    LinkParams {
        delay,
        queue: 1 << 20,
        ..LinkParams::default()
    }
}

/// Nodes given by their configurations, and the links between them. See the module docs.
pub struct Mesh {
    seed: u64,
    nodes: Vec<NodeConfig>,
    links: Vec<(IpAddr, IpAddr, LinkParams)>,
    default_link: LinkParams,
    compile_delay: Duration,
}

impl Mesh {
    /// No nodes yet; `seed` drives the link losses. The default link has 5 ms of delay, and
    /// compilations take no virtual time.
    pub fn new(seed: u64) -> Self {
        Mesh {
            seed,
            nodes: Vec::new(),
            links: Vec::new(),
            default_link: link(Duration::from_millis(5)),
            compile_delay: Duration::ZERO,
        }
    }

    /// Adds a node (in place of any node with the same address).
    pub fn node(&mut self, config: NodeConfig) -> &mut Self {
        match self.nodes.iter_mut().find(|n| n.address == config.address) {
            Some(slot) => *slot = config,
            None => self.nodes.push(config),
        }
        self
    }

    /// Sets the link between the nodes at `a` and `b` (both directions).
    pub fn link(&mut self, a: IpAddr, b: IpAddr, params: LinkParams) -> &mut Self {
        self.links
            .retain(|&(x, y, _)| (x, y) != (a, b) && (x, y) != (b, a));
        self.links.push((a, b, params));
        self
    }

    /// Sets the link between nodes without one of their own.
    pub fn default_link(&mut self, params: LinkParams) -> &mut Self {
        self.default_link = params;
        self
    }

    /// Sets the virtual time of one compilation.
    pub fn compile_delay(&mut self, delay: Duration) -> &mut Self {
        self.compile_delay = delay;
        self
    }

    /// The emulator, at virtual time zero, each node running its configuration.
    pub fn build(&self) -> Result<Emulator, EmulatorError> {
        let mut builder = TopologyBuilder::new("mesh");
        builder.seed(self.seed);
        for (i, config) in self.nodes.iter().enumerate() {
            let IpAddr::V4(address) = config.address else {
                return Err(EmulatorError::NotItsAddress {
                    node: format!("n{i}"),
                    address: config.address,
                });
            };
            builder.node(format!("n{i}"), NodeKind::Active, Some(address));
        }
        for (i, a) in self.nodes.iter().enumerate() {
            for (j, b) in self.nodes.iter().enumerate().skip(i + 1) {
                let params = self
                    .links
                    .iter()
                    .find(|&&(x, y, _)| {
                        (x, y) == (a.address, b.address) || (x, y) == (b.address, a.address)
                    })
                    .map_or(self.default_link, |&(_, _, p)| p);
                builder.link_with(
                    format!("n{i}"),
                    format!("n{j}"),
                    params,
                    LinkOptionsSet::default(),
                );
            }
        }
        let topology = builder.build()?;
        let routes = Routes::compute(&topology);
        let options = EmulatorOptions {
            seed: Some(self.seed),
            compile_delay: Some(self.compile_delay),
            start_apps: false,
            ..EmulatorOptions::default()
        };
        let mut emu = Emulator::new(
            &topology,
            &routes,
            &CapsuleLocator::new(None, None),
            options,
        )?;
        for (id, config) in self.nodes.iter().enumerate() {
            emu.restart_node(id, config.clone())?;
        }
        Ok(emu)
    }
}
